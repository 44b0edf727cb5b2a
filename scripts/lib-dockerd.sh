# Sourced by the docker scripts: make sure a Docker daemon answers, starting Debian's dockerd if we may.
# start_dockerd_if_needed: returns 0 when `docker info` works (after starting dockerd as root if needed), else 1.
start_dockerd_if_needed() {
    docker info >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ] && command -v dockerd >/dev/null 2>&1; then
        echo "starting dockerd (log: /tmp/dockerd.log)" >&2
        setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
        for _ in $(seq 1 30); do
            docker info >/dev/null 2>&1 && return 0
            sleep 1
        done
    fi
    docker info >/dev/null 2>&1
}
