"""`verify`'s chain stage in a second process, beside the replay (`services/verify.py`).

`python -m sampleloans.services.chain_beside PATH UP_TO_SEQ ANCHOR` checks the chain of a SQLite
ledger file up to `UP_TO_SEQ` (`ANCHOR`: `SEQ:HASH`, or `-` for none) and prints what it found
as one JSON object: events, head_seq, head_hash, problems ([area, message] pairs).
"""

import json
import sys

from sampleloans.services.verify import chain_of_file, parse_anchor


def main(argv: list[str]) -> None:
    """Check the chain as asked and print the answer."""
    path, up_to_seq, anchor = argv
    result = chain_of_file(path, int(up_to_seq), None if anchor == "-" else parse_anchor(anchor))
    answer = {
        "events": result.events,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "problems": [[problem.area, problem.message] for problem in result.problems],
    }
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
