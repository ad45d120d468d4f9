"""Print the README's config reference table from config.schema.yaml.

    python scripts/config_table.py     # paste between the README's config markers

tests/test_readme.py fails when the README's table differs from this output.
"""

import json
import os

import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_table() -> str:
    with open(os.path.join(PACK_DIR, "config.schema.yaml")) as fp:
        schema = yaml.safe_load(fp)
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key, spec in schema.items():
        default = json.dumps(spec["default"]) if "default" in spec else ""
        if spec.get("secret"):
            default = "(secret)"
        rows.append(f"| `{key}` | {spec['type']} | `{default}` | {spec['description']} |")
    return "\n".join(rows).replace("``", "")


if __name__ == "__main__":
    print(config_table())
