"""`imbsemi pretrained list | inspect FILE | convert SRC DST | fetch NAME`: the released checkpoints."""
from __future__ import annotations

import argparse
from typing import Sequence

from imbsemi import released
from imbsemi.checkpoints import convert_checkpoint, inspect_checkpoint


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi pretrained", allow_abbrev=False,
                                     description="Released checkpoints: the registry, any file's layout, conversion "
                                                 "to imbsemi's model file, downloads. FILE may be pretrained:NAME.")
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("list", help="every registry entry: name, stage, dataset, rho, metric, where it is")
    commands.add_parser("inspect", help="the layout and tensors of a checkpoint").add_argument("file")
    convert = commands.add_parser("convert", help="write a checkpoint of any layout as an imbsemi model file")
    convert.add_argument("source")
    convert.add_argument("target")
    fetch = commands.add_parser("fetch", help="download a registry entry into the cache (sha256-checked)")
    fetch.add_argument("name")
    fetch.add_argument("--url", help="download from here instead of the registry's URL (a mirror, file://...)")
    args = parser.parse_args(argv)
    if args.action == "list":
        print(f"{'name':<44} {'stage':<10} {'dataset':<12} {'rho':>5} {'rho_U':>6}  {'metric':<22} where")
        for entry in released.registry():
            path = released.local_path(entry)
            where = "here" if path.is_file() else "download"
            metric = ", ".join(f"{k}={v}" for k, v in entry["metric"].items() if v is not None) or "-"
            print(f"{entry['name']:<44} {entry['stage']:<10} {entry['dataset']:<12} {_cell(entry['rho']):>5} "
                  f"{_cell(entry.get('rho_u')):>6}  {metric:<22} {where}")
    elif args.action == "inspect":
        for key, value in inspect_checkpoint(args.file).items():
            print(f"{key}: {value}")
    elif args.action == "convert":
        info = convert_checkpoint(args.source, args.target)
        print(f"{args.target}: {info['arch']} from the {info['layout']} layout, {info['tensors']} tensors")
    else:
        print(released.fetch(args.name, args.url))
    return 0


def _cell(value: object) -> str:
    return "-" if value is None else str(value)
