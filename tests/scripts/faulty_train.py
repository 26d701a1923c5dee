"""``groklab train`` with one fault injected at a chosen moment (tests/test_faults.py).

    python faulty_train.py FAULT STEP -- <groklab train arguments>

FAULT, at the evaluation or checkpoint of step STEP:
- ``kill-after-metrics``: SIGKILL once that evaluation's records are in metrics.jsonl;
- ``kill-mid-metrics``: SIGKILL after writing only half of that evaluation's first line;
- ``kill-after-params``: SIGKILL inside that checkpoint, after the parameters are saved and
  before the training state is;
- ``kill-after-state``: SIGKILL after the whole checkpoint, before the summary that goes with it;
- ``fill-disk``: fill the file system of the run directory (a real one, e.g. a small tmpfs) once
  that evaluation's records are written, so the checkpoint that follows meets a full disk.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    fault, step = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]

    from groklab.cli.main import main as groklab_main
    from groklab.experiments.writer import JsonlSink, RunWriter
    from groklab.runs.checkpoints import Checkpoints

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    if fault == "kill-after-metrics":
        write = JsonlSink.write

        def write_then_die(self, records):
            write(self, records)
            if records and records[0]["step"] == step:
                die()
        JsonlSink.write = write_then_die
    elif fault == "kill-mid-metrics":
        import json
        write = JsonlSink.write

        def half_a_line_then_die(self, records):
            if records and records[0]["step"] == step:
                line = json.dumps(records[0])
                with self.run.metrics_path.open("a") as f:
                    f.write(line[: len(line) // 2])
                die()
            write(self, records)
        JsonlSink.write = half_a_line_then_die
    elif fault == "kill-after-params":
        save_params = Checkpoints.save_params

        def params_then_die(self, s, params, metadata):
            save_params(self, s, params, metadata)
            if s == step:
                die()
        Checkpoints.save_params = params_then_die
    elif fault == "kill-after-state":
        checkpoint = RunWriter.checkpoint

        def checkpoint_then_die(self, s, state, final):
            if s != step:
                return checkpoint(self, s, state, final)
            self.checkpoints.save(s, state.params, state, self.checkpoint_metadata(s))
            die()
        RunWriter.checkpoint = checkpoint_then_die
    elif fault == "fill-disk":
        write = JsonlSink.write

        def write_then_fill(self, records):
            write(self, records)
            if records and records[0]["step"] == step:
                fd = os.open(self.run.path.parent / "filler", os.O_WRONLY | os.O_CREAT)
                for size in (65536, 1):  # big blocks, then the last bytes: nothing left
                    try:
                        while True:
                            os.write(fd, b"\0" * size)
                    except OSError:
                        pass
                os.close(fd)
        JsonlSink.write = write_then_fill
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    return groklab_main(argv)


if __name__ == "__main__":
    sys.exit(main())
