"""GET /metrics: what a check records in-process, and a real scrape merged across gunicorn workers."""

import concurrent.futures
import glob
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service import create_app
from service.metrics import REQUEST_BUCKETS
from tests.servers import request, running_gunicorn, worker_pids

OPIOID = {
    "medications": [
        {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"},
        {"id": "oxy", "name": "oxycodone 5 mg tablet"},
    ]
}
UNKNOWN = {"medications": [{"id": "ldn", "name": "naltrexone 4.5 mg capsule"}, {"id": "x", "name": "zorblaxin"}]}
CLEAN = {"medications": [{"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True}]}


def sample(name, **labels):
    """A sample's value in this process's default registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def parse(text):
    """{(sample name, frozenset(labels)): value} from a Prometheus text exposition."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def total(samples, name, **labels):
    """Sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and wanted <= sample_labels
    )


def expected_alerts(bodies):
    """Counter of (code, severity) over the alerts of real responses."""
    return Counter((alert["code"], alert["severity"]) for body in bodies for alert in body["alerts"])


def test_a_check_is_counted_by_endpoint_status_alert_and_step(client):
    before = {
        "requests": sample("ldn_http_requests_total", endpoint="/v1/check", method="POST", status="200"),
        "latency": sample("ldn_http_request_duration_seconds_count", endpoint="/v1/check", method="POST", status="200"),
        "opioid": sample("ldn_alerts_total", code="opioid-use", severity="high"),
        "unrecognized": sample("ldn_unrecognized_medications_total"),
        "medications": sample("ldn_medications_checked_total"),
        "engine": sample("ldn_rule_evaluation_seconds_count"),
        "normalise": sample("ldn_normalisation_seconds_count"),
    }
    bodies = [client.post("/v1/check", json=body).get_json() for body in (OPIOID, UNKNOWN)]
    assert ("opioid-use", "high") in expected_alerts(bodies)
    unrecognized = sum(1 for body in bodies for med in body["medications"] if not med["recognized"])
    assert unrecognized == 1

    assert (
        sample("ldn_http_requests_total", endpoint="/v1/check", method="POST", status="200") == before["requests"] + 2
    )
    assert (
        sample("ldn_http_request_duration_seconds_count", endpoint="/v1/check", method="POST", status="200")
        == before["latency"] + 2
    )
    assert (
        sample("ldn_alerts_total", code="opioid-use", severity="high")
        == before["opioid"] + expected_alerts(bodies)[("opioid-use", "high")]
    )
    assert sample("ldn_unrecognized_medications_total") == before["unrecognized"] + 1
    assert sample("ldn_medications_checked_total") == before["medications"] + 4
    assert sample("ldn_rule_evaluation_seconds_count") == before["engine"] + 2
    assert sample("ldn_normalisation_seconds_count") == before["normalise"] + 2


def test_errors_are_counted_with_their_status_and_unmatched_paths_do_not_become_labels(client):
    invalid_before = sample("ldn_http_requests_total", endpoint="/v1/check", method="POST", status="422")
    unmatched_before = sample("ldn_http_requests_total", endpoint="<unmatched>", method="GET", status="404")
    assert client.post("/v1/check", json={"medications": [{"name": 5}]}).status_code == 422
    assert client.get("/patients/12345/secret").status_code == 404

    text = client.get("/metrics").get_data(as_text=True)
    assert sample("ldn_http_requests_total", endpoint="/v1/check", method="POST", status="422") == invalid_before + 1
    assert sample("ldn_http_requests_total", endpoint="<unmatched>", method="GET", status="404") == unmatched_before + 1
    assert "/patients/12345" not in text


def test_metrics_is_prometheus_text_with_build_info_and_needs_no_api_key(contract):
    app = create_app({"TESTING": True, "API_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"})
    client = app.test_client()
    assert client.post("/v1/check", json=CLEAN).status_code == 401
    response = client.get("/metrics")
    assert response.status_code == 200
    contract.validate_response("/metrics", "get", response)
    ruleset = client.get("/readyz").get_json()["ruleset"]
    samples = parse(response.get_data(as_text=True))
    info = {
        "ruleset": ruleset["name"],
        "ruleset_version": ruleset["version"],
        "vocabulary_version": ruleset["vocabulary_version"],
    }
    assert samples[("ldn_build_info", frozenset(info.items()))] == 1.0
    assert total(samples, "ldn_http_requests_total", endpoint="/v1/check", status="401") >= 1


def test_cds_feedback_callable_counts_outcomes_with_bounded_labels(app):
    feedback = app.extensions["ldn_feedback"]
    accepted = sample("ldn_cds_feedback_total", service="ldn-order-select", outcome="accepted")
    other = sample("ldn_cds_feedback_total", service="ldn-order-select", outcome="other")
    feedback("ldn-order-select", "accepted")
    feedback("ldn-order-select", "accepted")
    feedback("ldn-order-select", "a made-up outcome")
    assert sample("ldn_cds_feedback_total", service="ldn-order-select", outcome="accepted") == accepted + 2
    assert sample("ldn_cds_feedback_total", service="ldn-order-select", outcome="other") == other + 1
    assert sample("ldn_cds_feedback_total", service="ldn-order-select", outcome="a made-up outcome") == 0


def _plant_stale_counter(directory):
    """A counter file as a previous gunicorn run would leave it: 1000 checks that this run never served."""
    stale = MmapedDict(os.path.join(directory, "counter_999999.db"))
    key = mmap_key(
        "ldn_http_requests",
        "ldn_http_requests_total",
        ["endpoint", "method", "status"],
        ["/v1/check", "POST", "200"],
        "HTTP requests by endpoint (URL rule), method and status.",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


def _checks_by_pid(directory):
    """{pid: /v1/check requests counted} from each worker's own counter file."""
    counts = {}
    for path in glob.glob(os.path.join(directory, "counter_*.db")):
        pid = int(Path(path).stem.split("_")[1])
        for metric in MultiProcessCollector.merge([path]):
            for s in metric.samples:
                if s.name == "ldn_http_requests_total" and s.labels.get("endpoint") == "/v1/check":
                    counts[pid] = counts.get(pid, 0) + s.value
    return counts


@pytest.mark.slow
def test_metrics_are_merged_across_gunicorn_workers(tmp_path):
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    _plant_stale_counter(str(multiproc))
    bodies = [OPIOID, UNKNOWN, CLEAN]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    with running_gunicorn(env, workers=2, log_path=tmp_path / "gunicorn.log") as (base, master):
        # on_starting wiped what the previous run left.
        assert not (multiproc / "counter_999999.db").exists()
        deadline = time.monotonic() + 20
        while len(worker_pids(master.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = set(worker_pids(master.pid))
        assert len(workers) == 2

        answers = []

        def post(index):
            return request(base, "/v1/check", bodies[index % len(bodies)])

        # Concurrent connections, in rounds until both workers have answered checks (bounded: 10 rounds).
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(10):
                answers.extend(pool.map(post, range(len(answers), len(answers) + 30)))
                if len([pid for pid, n in _checks_by_pid(str(multiproc)).items() if pid in workers and n]) == 2:
                    break
        assert all(status == 200 for status, _, _ in answers), Counter(status for status, _, _ in answers)
        served = _checks_by_pid(str(multiproc))
        assert {pid for pid, n in served.items() if n} == workers, served
        sent = len(answers)
        responses = [body for _, _, body in answers]

        status, headers, _ = request(base, "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        samples = parse(request(base, "/metrics")[2].decode())

        assert total(samples, "ldn_http_requests_total", endpoint="/v1/check") == sent
        assert total(samples, "ldn_http_requests_total", endpoint="/v1/check", status="200") == sent
        assert total(samples, "ldn_http_request_duration_seconds_count", endpoint="/v1/check") == sent
        for (code, severity), count in expected_alerts(responses).items():
            assert total(samples, "ldn_alerts_total", code=code, severity=severity) == count, code
        assert total(samples, "ldn_alerts_total", code="opioid-use") > 0
        unrecognized = sum(1 for body in responses for med in body["medications"] if not med["recognized"])
        assert total(samples, "ldn_unrecognized_medications_total") == unrecognized > 0
        assert total(samples, "ldn_rule_evaluation_seconds_count") == sent
        assert total(samples, "ldn_normalisation_seconds_count") == sent
        ruleset = responses[0]["ruleset"]
        info = [labels for (name, labels), value in samples.items() if name == "ldn_build_info" and value == 1]
        assert info == [
            frozenset(
                {
                    "ruleset": ruleset["name"],
                    "ruleset_version": ruleset["version"],
                    "vocabulary_version": ruleset["vocabulary_version"],
                }.items()
            )
        ]

        # A worker that dies: its counts stay in the totals, its live gauge file goes (child_exit).
        victim = min(workers)
        assert (multiproc / f"gauge_livemax_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (victim in worker_pids(master.pid) or len(worker_pids(master.pid)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert victim not in worker_pids(master.pid)
        while (multiproc / f"gauge_livemax_{victim}.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (multiproc / f"gauge_livemax_{victim}.db").exists()
        after = parse(request(base, "/metrics")[2].decode())
        assert total(after, "ldn_http_requests_total", endpoint="/v1/check") == sent
        assert any(name == "ldn_build_info" for name, _ in after)

    # Every line gunicorn and the app wrote is a JSON object: the error log and access log are machine-readable.
    lines = [line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        json.loads(line)


def test_a_405_on_a_real_route_is_labelled_by_its_rule(client):
    before = sample("ldn_http_requests_total", endpoint="/v1/check", method="GET", status="405")
    assert client.get("/v1/check").status_code == 405
    assert sample("ldn_http_requests_total", endpoint="/v1/check", method="GET", status="405") == before + 1


def test_latency_buckets_resolve_sub_millisecond_requests(client):
    client.get("/healthz")
    buckets = [float(b) for b in REQUEST_BUCKETS]
    assert buckets[0] < 0.001 and buckets[-1] >= 30  # from a quarter millisecond to the worker timeout
    counted = sample(
        "ldn_http_request_duration_seconds_bucket", endpoint="/healthz", method="GET", status="200", le=str(buckets[-1])
    )
    assert counted >= 1


def test_with_a_metrics_port_metrics_answer_only_there_and_nothing_else_does():
    client = create_app({"TESTING": True, "METRICS_PORT": 9090}).test_client()
    public, metrics = {"SERVER_PORT": "8080"}, {"SERVER_PORT": "9090"}
    assert client.get("/metrics", environ_overrides=public).status_code == 404
    assert client.get("/metrics", environ_overrides=metrics).status_code == 200
    assert client.get("/healthz", environ_overrides=metrics).status_code == 404
    assert client.get("/healthz", environ_overrides=public).status_code == 200
