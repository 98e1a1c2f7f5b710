"""make_world_template.py DIR: generates the simulated world that the integration, interop and
browser tests copy (conftest.world_template), once per CTest run, into DIR/world."""
import importlib.util
import os
import shutil
import sys

spec = importlib.util.spec_from_file_location(
    "conftest", os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py"))
conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conftest)

if len(sys.argv) != 2:
    sys.exit("usage: make_world_template.py DIR")
root = sys.argv[1]
shutil.rmtree(root, ignore_errors=True)
os.makedirs(root)
world = conftest.make_world_template(os.path.join(root, "data"))
print(f"world template: {world}")
