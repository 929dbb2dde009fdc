"""The root app: global options, error handling, and every command group."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup

from resellctl import __version__
from resellctl.cli import errors
from resellctl.cli.state import State, state

_ARGV = "resellctl.argv"


class ResellGroup(TyperGroup):
    """Root group: domain errors become exit codes; no traceback without --debug;
    usage errors are a JSON object when JSON output was asked for."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        argv = list(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except ClickUsageError as exc:
            _usage_error(exc, argv)
            raise
        ctx.meta[_ARGV] = argv  # the subcommands parse later, inside invoke
        return ctx

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClickUsageError as exc:
            _usage_error(exc, ctx.meta.get(_ARGV, []))
            raise
        except BrokenPipeError:  # `resellctl ... | head`: the reader has what it wanted
            errors.silence(sys.stdout)
            raise typer.Exit(BROKEN_PIPE) from None
        except Exception as exc:  # noqa: BLE001 - the one place that reports everything
            if type(exc).__module__.startswith("typer") or isinstance(exc, typer.Exit):
                raise
            current = ctx.obj if isinstance(ctx.obj, State) else State()
            raise typer.Exit(_report(exc, current)) from None
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in GROUPS
                                                if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in GROUPS and cmd_name not in self.commands:
            self.commands[cmd_name] = _group(cmd_name)
        return super().get_command(ctx, cmd_name)


BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`


def _usage_error(exc: ClickUsageError, argv: Sequence[str]) -> None:
    """Report Click's usage error and exit 2: as the JSON error object when JSON output
    was asked for, else as Click's own text. A closed stderr keeps the exit code. A
    command group run without a command returns: Click shows its help."""
    if isinstance(exc, NoArgsIsHelpError):
        return  # Click shows the help
    hint = _global_option_hint(exc, argv)
    if not wants_json(argv):  # Click's text, but a closed stderr keeps the exit code
        try:
            exc.show()
        except BrokenPipeError:
            errors.silence(sys.stderr)
        if hint:
            errors.say(f"Hint: {hint}\n")
        raise typer.Exit(exc.exit_code)
    from resellctl.domain.errors import UsageError

    if hint is None and exc.ctx is not None and exc.ctx.command.get_help_option(exc.ctx):
        names = exc.ctx.help_option_names
        option = "--help" if "--help" in names else names[0]
        hint = f"run `{exc.ctx.command_path} {option}`"
    raise typer.Exit(errors.report(UsageError(exc.format_message(), hint=hint), as_json=True))


def _global_option_hint(exc: ClickUsageError, argv: Sequence[str]) -> str | None:
    """For a global option given after the command (`resellctl whoami --as X`), the hint
    with the command line rebuilt, global options first; None for any other error."""
    if not isinstance(exc, NoSuchOption) or exc.ctx is None:
        return None
    root = exc.ctx.find_root()
    known = {name: param for param in root.command.params for name in param.opts}
    if exc.option_name not in known:
        return None
    exc.possibilities = []  # Click's "Did you mean" would point at the wrong option
    for name in (n for param in exc.ctx.command.params for n in param.opts):
        known.pop(name, None)  # the command's own option of that name (`context create --db`)
    import shlex

    command = shlex.join([root.info_name or "resellctl", *_globals_first(argv, known)])
    return f"global options go before the command: {command}"


def _globals_first(argv: Sequence[str], known: dict[str, Any]) -> list[str]:
    """`argv` with the options in `known` (and their values) moved to the front."""
    front, rest, args = [], [], list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            rest += [arg, *args]
            break
        name, equals, _ = arg.partition("=")
        param = known.get(name)
        if param is None:
            rest.append(arg)
            continue
        front.append(arg)
        if not (equals or param.is_flag):  # its value, or a placeholder when it has none
            given = bool(args) and not args[0].startswith("-")
            front.append(args.pop(0) if given else param.name.upper())
    return front + rest


def wants_json(argv: Sequence[str]) -> bool:
    """Did this command line ask for `-o json`? Read from the raw arguments, because a
    usage error stops Click before the --output option is processed. The last
    -o/--output wins (as in Click); without one, RESELLCTL_OUTPUT decides."""
    value = None
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        if arg in ("-o", "--output"):
            value = next(args, value)
        elif arg.startswith("--output="):
            value = arg[len("--output="):]
        elif arg.startswith("-o") and not arg.startswith("--"):
            value = arg[2:]
    if value is None:
        value = os.environ.get("RESELLCTL_OUTPUT")
    return (value or "").strip().lower() == "json"


def _report(exc: Exception, current: State) -> int:
    from resellctl.domain.errors import Invalid, ResellError

    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        # Text from the command line or the environment that was not UTF-8 (Python keeps
        # such bytes as lone surrogates): bad input, not a bug.
        shown = exc.object.encode("utf-8", "surrogateescape").decode("utf-8",
                                                                     "backslashreplace")
        exc = Invalid(f"`{shown}` is not valid UTF-8 text (an argument or environment "
                      "variable)", code="invalid_encoding", hint="pass UTF-8 text")

    as_json = current.output == "json"
    if isinstance(exc, ResellError):
        if current.debug and exc.__cause__ is not None:
            import traceback

            traceback.print_exception(exc.__cause__, file=sys.stderr)
        return errors.report(exc, as_json=as_json)
    if current.debug:
        raise exc
    return errors.report_internal(exc, as_json=as_json)


app = typer.Typer(
    cls=ResellGroup,
    name="resellctl",
    help="Administer a SaaS reseller channel: resellers, licences, clients, subscriptions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain Click help: Typer's Rich help imports rich.markdown & co (~100 ms on every
    # --help); start-up speed is a feature here (see docs/performance.md).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resellctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", envvar="RESELLCTL_DATABASE_URL",
                                           help="Store URL: sqlite:///PATH or postgresql://…",
                                           show_envvar=True)] = None,
    profile: Annotated[str | None, typer.Option("--profile", envvar="RESELLCTL_PROFILE",
                                                help="Named context from the config file.")] = None,
    actor: Annotated[str | None, typer.Option("--as", envvar="RESELLCTL_ACTOR",
                                              help="Acting user's e-mail.")] = None,
    debug: Annotated[bool, typer.Option("--debug", envvar="RESELLCTL_DEBUG",
                                        help="Show tracebacks for internal errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    """Administer a SaaS reseller channel: resellers, licences, clients, subscriptions.

    \b
    Example: resellctl init --admin-email you@example.com
    """
    if db is None and os.environ.get("RESELLCTL_DATABASE_URL") == "":
        db = ""  # Click reads an empty variable as unset; here it is a mistake to report
    current = state(ctx)
    current.db, current.profile, current.actor, current.debug = db, profile, actor, debug


# Command groups, by name, and the module under resellctl.cli that defines each one's
# `app`, in the order --help lists them. A group's module is imported and its Click
# commands built only when the command line names it (or --help lists them all):
# building all 81 commands took ~100 ms of every command's start-up (docs/performance.md).
GROUPS = {
    "db": "db",
    "context": "context",
    "token": "token",
    "settings": "settings",
    "user": "user",
    "reseller": "reseller",
    "license": "license",
    "client": "client",
    "subscription": "subscription",
    "approval": "approval",
    "support": "support",
    "report": "report",
    "audit": "audit",
}


def _group(name: str) -> Any:
    """The Click group of the command group `name`, built as `app.add_typer` would."""
    import importlib

    from typer.main import get_group_from_info
    from typer.models import TyperInfo

    module = importlib.import_module(f"resellctl.cli.{GROUPS[name]}")
    return get_group_from_info(TyperInfo(module.app, name=name),
                               pretty_exceptions_short=app.pretty_exceptions_short,
                               rich_markup_mode=app.rich_markup_mode,
                               suggest_commands=app.suggest_commands)


def _register() -> None:
    from resellctl.cli import serve, setup

    setup.register(app)
    app.command()(serve.serve)


_register()


def run() -> None:
    """Console-script entry point."""
    app()
