"""Reference side of parity checks and benchmarks: the Python `piper-tts` package.

Development tool only; the product never imports this. Reads one JSON request from stdin and
writes one JSON answer to stdout.
  {"op": "ids", "model": path, "lines": [...]}            -> {"ids": [[[int]]]}  (per line, per sentence)
  {"op": "rtf", "model": path, "lines": [...], "runs": n}  -> {"compute_s": float, "audio_s": float}
"""

import json
import resource
import sys
import time

from piper import PiperVoice


def ids_for(voice, text):
    return [voice.phonemes_to_ids(sentence) for sentence in voice.phonemize(text)]


def main():
    request = json.load(sys.stdin)
    voice = PiperVoice.load(request["model"])
    if request["op"] == "ids":
        json.dump({"ids": [ids_for(voice, line) for line in request["lines"]]}, sys.stdout)
    elif request["op"] == "rtf":
        # Warm-up run so the first inference's graph set-up is not counted.
        for _ in voice.synthesize(request["lines"][0]):
            pass
        compute = 0.0
        samples = 0
        for _ in range(request.get("runs", 1)):
            for line in request["lines"]:
                start = time.perf_counter()
                for chunk in voice.synthesize(line):
                    samples += len(chunk.audio_int16_array)
                compute += time.perf_counter() - start
        json.dump(
            {
                "compute_s": compute,
                "audio_s": samples / voice.config.sample_rate,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            },
            sys.stdout,
        )
    else:
        raise SystemExit(f"unknown op {request['op']}")


if __name__ == "__main__":
    main()
