"""Top functions of a py-spy raw (collapsed stacks) profile: own time (leaf) and total time (anywhere on the stack),
by function, the log listener's idle waits left out."""

import collections
import re
import sys

_LINE = re.compile(r":\d+\)$")
# The log listener thread waits on its queue between lines: it is idle, not the request path.
_IDLE = ("QueueListener._monitor", "Queue.get")


def main(path, limit=25):
    own, total, samples = collections.Counter(), collections.Counter(), 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [_LINE.sub(")", frame) for frame in stack.split(";")]  # by function, not by line
            if any(frame.startswith(_IDLE) for frame in frames):
                continue
            samples += n
            own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
    print(f"samples: {samples}")
    print("\n## own time (leaf frames)")
    for frame, n in own.most_common(limit):
        print(f"{100 * n / samples:6.1f}%  {frame}")
    print("\n## total time (frame anywhere on the stack)")
    for frame, n in total.most_common(limit + 12):
        print(f"{100 * n / samples:6.1f}%  {frame}")


if __name__ == "__main__":
    main(sys.argv[1])
