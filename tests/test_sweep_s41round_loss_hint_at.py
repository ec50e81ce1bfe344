"""A weighing short of what is accountable names the loss report to record, and that command,
typed as named, must be accepted. Before, a receipt or a return accepted `--at` a past time
(the 2025 round entered in 2026) named `incidents report …` without `--at`: followed literally,
the loss was dated now, after the return it had to precede, and the return was then refused
for time order; the return's hint also left the missing mass as `…` though it knew it. Now both
name the mass and, for a back-dated receipt or return, its `--at`."""

import shlex
from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app

CURATOR = "li@naoc.example"
PI = "anand@open.example"
SAMPLE = "CE5C0200YJFM00112"


def _run(env: dict[str, str], who: str, command: str) -> tuple[int, str, str]:
    """One command line as typed, by `who`: exit code, stdout, stderr."""
    done = CliRunner().invoke(app, ["--as", who, *shlex.split(command)], env=env)
    return done.exit_code, done.stdout, done.stderr


def _ok(env: dict[str, str], who: str, command: str) -> str:
    """Run a command that must succeed; its stdout."""
    code, out, err = _run(env, who, command)
    assert code == 0, (command, out, err)
    return out


def _hinted(text: str) -> str:
    """The command a message names, between "('" and "')"."""
    return text[text.index("('") + 2 : text.rindex("')")]


def _round(tmp_path: Path) -> dict[str, str]:
    """A fresh ledger with one 20 mg sample lent to the OU and shipped, all entered --at 2025
    dates on 3 December 2026."""
    env = {
        "SAMPLELOANS_DB": str(tmp_path / "lab.db"),
        "SAMPLELOANS_NOW": "2026-12-03T10:00:00Z",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    init = f"init --curator-email {CURATOR} --curator-name 'Li Na' --at 2025-04-01"
    done = CliRunner().invoke(app, shlex.split(init), env=env)
    assert done.exit_code == 0, done.stderr
    for command in (
        f"samples register {SAMPLE} --mission CE-5 --mass 20mg --origin scoop "
        "--material regolith --form powder --purpose research --location 'N2 cabinet C' "
        "--at 2025-04-02",
        f"people add {PI} --name 'Mahesh Anand' --institution OU --role researcher --at 2025-04-02",
        "agreements add AG-OU --institution OU --term '5 years' --max-mass '1 g' "
        "--purpose research --max-loan-period '12 months' --at 2025-04-10",
        "agreements sign AG-OU --signed-by CNSA --at 2025-04-24",
        f"loans request L-OU --agreement AG-OU --pi {PI} --sample {SAMPLE} --at 2025-04-25",
        "loans approve L-OU --at 2025-04-26",
        "loans issue L-OU --at 2025-05-01",
        "loans ship L-OU --container box --seal SL-1 --at 2025-05-02",
    ):
        _ok(env, CURATOR, command)
    return env


def _received_short(env: dict[str, str]) -> str:
    """The PI receives the sample --at 2025-05-08 weighing 100 µg short; the loss it names."""
    out = _ok(
        env,
        PI,
        f"loans receive L-OU --seal-intact --condition pristine --weighed {SAMPLE}=19.9mg "
        "--at 2025-05-08",
    )
    return _hinted(" ".join(out.split()))


def test_a_back_dated_receipt_names_the_loss_at_its_time(tmp_path: Path) -> None:
    """The researcher's receipt --at 2025-05-08 weighs 100 µg short: the loss it names carries
    that --at, and typed as named (a description for the …) it is taken, and the lab's later
    2025 work after it."""
    env = _round(tmp_path)
    hint = _received_short(env)
    assert hint == (
        f"incidents report --sample {SAMPLE} --kind loss --mass-lost 100µg --description … "
        "--at 2025-05-08T00:00:00Z"
    )
    reported = _ok(env, PI, hint.replace("…", "'stuck to the vial'"))
    seq = reported.split()[1]  # "Incident N reported on …"
    _ok(env, CURATOR, f"incidents resolve {seq} --resolution confirmed --at 2025-05-09")
    _ok(
        env,
        PI,
        f"loans consume L-OU --sample {SAMPLE} --technique SIMS --mass 0.4mg --non-destructive "
        "--at 2025-06-01",
    )


def test_a_back_dated_return_names_the_loss_and_is_then_accepted(tmp_path: Path) -> None:
    """A return accepted --at 2025-06-05 weighing 100 µg short is refused naming the loss with
    its mass and that --at; typed as named, the same return is then accepted."""
    env = _round(tmp_path)
    _ok(env, PI, "loans receive L-OU --seal-intact --condition pristine --at 2025-05-08")
    _ok(env, CURATOR, "loans return L-OU --container box --seal SL-R --at 2025-06-01")
    accept = (
        f"loans accept-return L-OU --seal-intact --condition unchanged --weighed {SAMPLE}=19.9mg "
        "--at 2025-06-05"
    )
    code, _out, err = _run(env, CURATOR, accept)
    assert code == 1
    hint = _hinted(err)
    assert hint == (
        f"incidents report --sample {SAMPLE} --kind loss --mass-lost 100µg --description … "
        "--at 2025-06-05T00:00:00Z"
    )
    _ok(env, CURATOR, hint.replace("…", "'lost on the way'"))
    assert "the loan is returned" in _ok(env, CURATOR, accept)


def test_a_return_accepted_now_names_no_at(tmp_path: Path) -> None:
    """Without --at the loss is recorded now, as the return is: its hint gives no --at."""
    env = _round(tmp_path)
    _ok(env, PI, "loans receive L-OU --seal-intact --condition pristine --at 2025-05-08")
    _ok(env, CURATOR, "loans return L-OU --container box --seal SL-R --at 2025-06-01")
    accept = f"loans accept-return L-OU --seal-intact --condition unchanged --weighed {SAMPLE}=19mg"
    code, _out, err = _run(env, CURATOR, accept)
    assert code == 1
    assert _hinted(err) == (
        f"incidents report --sample {SAMPLE} --kind loss --mass-lost 1.000mg --description …"
    )


def test_a_frozen_sample_names_its_resolution_at_the_refused_time(tmp_path: Path) -> None:
    """A return --at 2025-06-01 of a sample an open incident freezes names the resolution
    with that --at; typed as named, the return is then released at that time."""
    env = _round(tmp_path)
    _ok(env, PI, _received_short(env).replace("…", "'stuck to the vial'"))
    release = "loans return L-OU --container box --seal SL-R --at 2025-06-01"
    code, _out, err = _run(env, CURATOR, release)
    assert code == 1
    hint = _hinted(err)
    assert hint.startswith("incidents resolve ") and hint.endswith(
        "--resolution … --at 2025-06-01T00:00:00Z"
    ), err
    _ok(env, CURATOR, hint.replace("…", "'loss confirmed'"))
    assert "released for return" in _ok(env, CURATOR, release)


def test_a_frozen_sample_in_the_vault_names_its_resolution_at_the_request_time(
    tmp_path: Path,
) -> None:
    """A request --at 2025-06-01 of a vault sample an incident froze names the resolution
    with that --at; typed as named, the request is then taken."""
    env = _round(tmp_path)
    other = "CE5C0300YJFM00307"
    _ok(
        env,
        CURATOR,
        f"samples register {other} --mission CE-5 --mass 20mg --origin scoop "
        "--material regolith --form powder --purpose research --location 'N2 cabinet C' "
        "--at 2025-04-02",
    )
    _ok(
        env,
        CURATOR,
        f"incidents report --sample {other} --kind damage --description 'vial cracked' "
        "--at 2025-05-10",
    )
    request = f"loans request L-OU-2 --agreement AG-OU --pi {PI} --sample {other} --at 2025-06-01"
    code, _out, err = _run(env, CURATOR, request)
    assert code == 1, err
    hint = _hinted(err)
    assert hint.endswith("--resolution … --at 2025-06-01T00:00:00Z"), err
    _ok(env, CURATOR, hint.replace("…", "'vial replaced'"))
    assert "requested" in _ok(env, CURATOR, request)
