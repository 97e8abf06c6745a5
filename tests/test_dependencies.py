"""dvc.yaml lists, for every stage, each padirec module its notebook runs (directly or through others)."""
from __future__ import annotations

import yaml

from padirec.pipeline import dependencies


def test_every_stage_lists_every_module_its_notebook_imports(repo):
    missing = dependencies.missing_deps(repo)
    assert missing == [], "dvc.yaml misses (stage, module): " + ", ".join(f"{s}: {m}" for s, m in missing)


def test_a_module_removed_from_a_stage_is_named_with_its_stage(repo):
    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc_yaml["stages"]["evaluate"]["do"]["deps"].remove("padirec/methods/lookup.py")  # through padirec.methods.registry
    dvc_yaml["stages"]["backbone"]["deps"].remove("padirec/data/sources.py")  # through padirec.data.dataset
    assert dependencies.missing_deps(repo, dvc_yaml) == [("backbone", "padirec/data/sources.py"),
                                                         ("evaluate", "padirec/methods/lookup.py")]


def test_a_folder_covers_the_modules_below_it(repo):
    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    deps = dvc_yaml["stages"]["evaluate"]["do"]["deps"]
    dvc_yaml["stages"]["evaluate"]["do"]["deps"] = [d for d in deps if not d.startswith("padirec/")] + ["padirec"]
    assert [stage for stage, _ in dependencies.missing_deps(repo, dvc_yaml)] == []


def test_imports_are_read_at_module_level_and_through_packages(tmp_path):
    package = tmp_path / "padirec"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import inner\n")
    (package / "sub" / "inner.py").write_text("def lazy():\n    from padirec import never\n")
    (package / "never.py").write_text("")
    (package / "top.py").write_text("try:\n    from padirec.sub import inner\nexcept ImportError:\n    pass\n")
    files = dependencies.import_closure({"padirec.top"}, tmp_path)
    assert {p.as_posix() for p in files} == {"padirec/__init__.py", "padirec/top.py", "padirec/sub/__init__.py",
                                             "padirec/sub/inner.py"}
