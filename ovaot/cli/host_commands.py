"""The commands about this host and this ovaot: devices and passes."""

from __future__ import annotations

import json

import click

from ovaot.cli.main import main


@main.command("passes")
@click.option("--json", "as_json", is_flag=True, help="Print the passes as JSON.")
def passes_command(as_json: bool) -> None:
    """List the graph passes: name, the level that turns them on, and what they do."""
    from ovaot.passes.registry import describe_passes

    passes = describe_passes()
    if as_json:
        click.echo(json.dumps(passes, indent=2))
        return
    width = max(len(str(p["name"])) for p in passes)
    for p in passes:
        click.echo(f"{p['name']:<{width}}  {p['level']:<11}  {p['description']}")


@main.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def devices_command(as_json: bool) -> None:
    """The devices OpenVINO sees here, their properties, and which targets can be precompiled on this host."""
    from ovaot.cli.devices import devices_report

    report = devices_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"OpenVINO {report['openvino_version']}")
    for device in report["devices"]:
        click.echo(f"  {device['name']}: {device['full_name']} ({', '.join(device['capabilities'])})")
    for target in report["targets"]:
        how = "precompiled here" if target["precompiled_here"] else "IR only here, compiled at load on the device"
        click.echo(f"  target {target['target']}: {how}")
