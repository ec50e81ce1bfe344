"""Who may run each command, checked before anything the person typed is read.

A researcher who gives `loans issue` a bad `--at` must hear that researchers may not issue
loans (exit 4), not that the time is malformed (exit 2): who you are comes before what you
typed, and the answer is the same whatever they typed, so the order tells nothing. The CLI
calls `require_command_role` once, in the transaction every writing command opens
(`commands/common.writing`) and for the commands that read files before their service runs
(`verify --since`, `checkpoint`); each service still checks its own role, for `import` and direct
callers, with the same words. A researcher of another institution is refused by the service,
as for a loan that does not exist (`services/access.py`).
"""

from sqlmodel import Session

from sampleloans.errors import PermissionDenied
from sampleloans.ledger.envelope import Context
from sampleloans.services.common import acting_person, require_role
from sampleloans.vocab import Role

CURATORS: tuple[str, ...] = (Role.CURATOR,)
STAFF: tuple[str, ...] = (Role.CURATOR, Role.COMPLIANCE_OFFICER)
LAB: tuple[str, ...] = (Role.CURATOR, Role.RESEARCHER)
"""What happens in the borrower's lab: curators, and the loan's own institution's researchers."""

COMMAND_ROLES: dict[str, tuple[tuple[str, ...], str]] = {
    "agreements add": (CURATORS, "create agreements"),
    "agreements expire": (CURATORS, "end agreements"),
    "agreements sign": (CURATORS, "record signatures"),
    "agreements terminate": (CURATORS, "end agreements"),
    "checkpoint": (CURATORS, "sign a checkpoint"),
    "custody correct": (CURATORS, "record corrections"),
    "import": (CURATORS, "import records"),
    "incidents report": (LAB, "report incidents"),
    "incidents resolve": (CURATORS, "resolve incidents"),
    "institutions add": (CURATORS, "add institutions"),
    "loans accept-return": (CURATORS, "accept returns"),
    "loans approve": (CURATORS, "approve loans"),
    "loans close": (CURATORS, "close loans"),
    "loans consume": (LAB, "record consumption"),
    "loans extend": (CURATORS, "extend loans"),
    "loans inventory": (LAB, "attest inventories"),
    "loans issue": (CURATORS, "issue loans"),
    "loans recall": (CURATORS, "recall loans"),
    "loans receive": (LAB, "record receipts"),
    "loans request": (CURATORS, "record loan requests"),
    "loans return": (CURATORS, "release returns"),
    "loans settle": (CURATORS, "settle loans"),
    "loans ship": (CURATORS, "release loans for shipment"),
    "loans split": (LAB, "record borrower splits"),
    "loans withdraw": (CURATORS, "withdraw loans"),
    "notify": (CURATORS, "run notify"),
    "people add": (CURATORS, "add people"),
    "people deactivate": (CURATORS, "deactivate people"),
    "people reactivate": (CURATORS, "reactivate people"),
    "people rename": (CURATORS, "rename people"),
    "institutions rename": (CURATORS, "rename institutions"),
    "institutions set-place": (CURATORS, "change institutions' places"),
    "people set-role": (CURATORS, "change roles"),
    "samples move": (CURATORS, "move samples"),
    "samples register": (CURATORS, "register samples"),
    "samples split": (CURATORS, "split samples"),
    "samples transfer": (CURATORS, "transfer samples"),
    "verify": (STAFF, "verify the whole ledger"),
}
"""Each command that checks a role: who may run it and what it does, in the words of its
service's refusal ("only curators may issue loans")."""


def require_command_role(session: Session, ctx: Context, command: str) -> None:
    """Refuse (exit 4) a person whose role may not run `command` ('loans issue'), first."""
    entry = COMMAND_ROLES.get(command)
    if entry is None:
        return
    roles, action = entry
    if roles != LAB:
        require_role(session, ctx, *roles, action=action)
        return
    person = acting_person(session, ctx)
    if person.role not in roles:  # "only curators" would leave the lab out
        raise PermissionDenied(
            f"{person.email} is a {person.role.replace('_', ' ')}; only curators and the "
            f"borrowing institution's researchers may {action}"
        )
