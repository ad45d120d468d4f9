"""The README documents what the pack ships."""

import glob
import os
import re
import sys

from pack_paths import PACK_DIR
from sensor_registry import sensor_registry

sys.path.insert(0, os.path.join(PACK_DIR, "scripts"))

from config_table import config_table  # noqa: E402


def readme():
    with open(os.path.join(PACK_DIR, "README.md")) as fp:
        return fp.read()


def anchor(heading):
    """The id GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_config_reference_matches_the_schema():
    text = readme()
    start = text.index("<!-- config-table:start -->\n") + len("<!-- config-table:start -->\n")
    end = text.index("\n<!-- config-table:end -->")
    assert text[start:end] == config_table(), "run scripts/config_table.py and paste its output"


def test_every_action_rule_and_policy_is_documented():
    text = readme()
    for folder in ("actions", "rules", "policies"):
        for path in glob.glob(os.path.join(PACK_DIR, folder, "*.yaml")):
            name = os.path.basename(path)[:-5]
            assert f"`{name}`" in text, f"{folder}/{name} is not in the README"


def test_quick_start_commands_exist():
    text = readme()
    for command in ("bash scripts/demo", "bash scripts/test"):
        assert command in text
        assert os.path.isfile(os.path.join(PACK_DIR, command.split()[1]))


def test_every_metric_on_the_sensors_metrics_page_is_documented():
    text = readme()
    families = list(sensor_registry().collect())
    assert len(families) >= 15
    for family in families:
        shown = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{shown}" in text, f"metric {shown} is not in the README"


def test_every_link_in_the_readme_and_docs_reaches_its_file_and_heading():
    docs = sorted(glob.glob(os.path.join(PACK_DIR, "docs", "*.md")))
    assert len(docs) >= 3
    linked = set()
    for path in [os.path.join(PACK_DIR, "README.md")] + docs:
        with open(path) as fp:
            text = fp.read()
        for target, fragment in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            if "://" in target:
                continue
            file = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
            assert os.path.exists(file), f"{path} links to {target}, which does not exist"
            linked.add(file)
            if fragment:
                with open(file) as fp:
                    anchors = [anchor(h) for h in re.findall(r"^#+ (.+)$", fp.read(), re.M)]
                assert fragment in anchors, f"{path} links to {target}#{fragment}"
    for path in docs + [os.path.join(PACK_DIR, "docs", "board.png")]:
        assert path in linked, f"nothing links to {path}"


def test_every_file_developers_md_names_exists():
    with open(os.path.join(PACK_DIR, "DEVELOPERS.md")) as fp:
        text = fp.read()
    named = set(re.findall(r"`([\w./-]+\.(?:py|yaml|txt|md))`", text))
    assert len(named) > 20
    candidates = ("", "tests", "tests/lib", "tests/st2_standin", "scripts", "acceptance")
    candidates += ("actions/lib", "actions/lib/poundcake")
    for name in named:
        if "<" in name or name.startswith("remediate_"):
            continue
        paths = [os.path.join(PACK_DIR, base, name) for base in candidates]
        assert any(os.path.exists(p) for p in paths), f"DEVELOPERS.md names {name}, not in the pack"


def test_every_example_config_is_shown_in_the_readme_or_its_notify_doc_as_it_is_tested():
    text = readme()
    assert "(docs/notify.md)" in text, "the README must link the notifier reference"
    with open(os.path.join(PACK_DIR, "docs", "notify.md")) as fp:
        shown = text + fp.read()
    examples = glob.glob(os.path.join(PACK_DIR, "examples", "*", "*.y*ml"))
    assert len(examples) >= 5
    for path in examples:
        with open(path) as fp:
            assert fp.read() in shown, f"the README or docs/notify.md must show {path} as it is"
    # what issue 18 asks the README itself to show: Slack and the silence's routing
    for name in ("notify/slack.yaml", "alertmanager/silence-routing.yml"):
        with open(os.path.join(PACK_DIR, "examples", name)) as fp:
            assert fp.read() in text, f"the README must show examples/{name} as it is"
