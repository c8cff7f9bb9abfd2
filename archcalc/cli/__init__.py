"""The ``archcalc`` command: a click group whose commands import torch/timm only when run.

User mistakes (``ArchcalcError`` and click usage errors) print one line and exit 2;
``archcalc --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import click

from archcalc import __version__
from archcalc.errors import ArchcalcError, DataVersionWarning

__all__ = ["main"]

EPILOG = """\b
Examples:
  archcalc inspect resnet18 --res 48 --res 224 --res 448
  archcalc inspect vit_base_patch16_224 --format json
  archcalc scale vit_base_patch16_224 --plot vit.png
"""


#: Command name -> the module defining it and the click command's name there. A command's
#: module is imported only when that command runs (or ``--help`` lists them all), so a cached
#: ``archcalc inspect`` loads neither the sweep machinery nor the report code.
COMMANDS = {
    "inspect": ("archcalc.cli.inspect", "inspect_command"),
    "sizes": ("archcalc.cli.sizes", "sizes_command"),
    "sweep": ("archcalc.cli.sweep", "sweep_command"),
    "merge": ("archcalc.cli.merge", "merge_command"),
    "report": ("archcalc.cli.report", "report_command"),
    "bench": ("archcalc.cli.bench", "bench_command"),
    "suggest": ("archcalc.cli.suggest", "suggest_command"),
    "scale": ("archcalc.cli.scale", "scale_command"),
    "cache": ("archcalc.cli.cache", "cache_command"),
    "targets": ("archcalc.cli.latency", "targets_command"),
    "calibrate": ("archcalc.cli.latency", "calibrate_command"),
    "predict": ("archcalc.cli.latency", "predict_command"),
}


class _Group(click.Group):
    """A group that loads each command on first use and turns every user mistake into one
    line on stderr and exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def main(self, args: Any = None, prog_name: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            with warnings.catch_warnings():  # restores Python's own display afterwards
                warnings.showwarning = _show_warning
                code = super().main(argv, prog_name or "archcalc", standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:
            _fail("aborted", 130)
        except click.ClickException as e:
            if debug:
                raise
            hint = _help_hint(e)
            _fail(f"{e.format_message()}{hint}", e.exit_code)
        except ArchcalcError as e:
            if debug:
                raise
            _fail(str(e), 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as e:
            if debug:
                raise
            _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug and report it)", 1)
        sys.exit(code if isinstance(code, int) else 0)


def _help_hint(error: click.ClickException) -> str:
    ctx = getattr(error, "ctx", None)
    if ctx is None:
        return ""
    return f" (see '{ctx.command_path} --help')"


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """archcalc's own warnings (``DataVersionWarning``) as one line on stderr; others as
    Python shows them."""
    if issubclass(category, DataVersionWarning):
        click.echo(f"archcalc: warning: {' '.join(str(message).split())}", err=True)
        return
    sys.stderr.write(warnings.formatwarning(message, category, *args[:2]))


def _fail(message: str, code: int) -> None:
    click.echo(f"archcalc: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcalc")
@click.option("--debug", is_flag=True, help="Show the full traceback of any error.")
def main(debug: bool) -> None:
    """Size a vision backbone before you train it: global stride, final k x k map,
    parameters, MACs/FLOPs, memory and latency, for any timm model or nn.Module."""
