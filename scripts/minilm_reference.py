#!/usr/bin/env python3
"""Full all-MiniLM-L6-v2 embeddings from the independent numpy reference.

Runs tests/fixtures/reference/minilm_numpy.py (an f32 numpy BERT forward pass
with mean pooling and L2 normalisation, written apart from navaja) unchanged,
and calls its `embed` on the sentences given as a JSON list on stdin. The
reference's basic tokenizer handles plain ASCII text only.

Usage: echo '["A man is eating food."]' | python3 scripts/minilm_reference.py models/all-MiniLM-L6-v2
Prints {"ids": [[...]], "embeddings": [[...]]}, one entry per sentence.
Needs numpy (PYTHONPATH=~/.cache/navaja/pydeps).
"""
import contextlib
import io
import json
import os
import runpy
import sys

REFERENCE = os.path.join(os.path.dirname(__file__), '..', 'tests', 'fixtures', 'reference', 'minilm_numpy.py')


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sentences = json.load(sys.stdin)
    sys.argv = [REFERENCE, sys.argv[1]]
    # The reference prints its own four sentences when it runs; keep stdout for the JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        reference = runpy.run_path(REFERENCE, run_name='minilm_reference')
    out = {'ids': [], 'embeddings': []}
    for s in sentences:
        e, ids = reference['embed'](s)
        out['ids'].append([int(i) for i in ids])
        out['embeddings'].append([float(v) for v in e])
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
