"""Client-side setup that lets unchanged SageMaker SDK code reach the emulator: `sagemaker-emulator
env`, `sdk-setup` and `sdk-reset`, and `configure()` for test harnesses.

AWS_ENDPOINT_URL reaches every client the SDK builds but one: the STS client behind
`sagemaker.get_execution_role()`, `Session().default_bucket()` and `Session().account_id()`, which
SDK v2 and v3 create with `endpoint_url=sts_regional_endpoint(region)` =
`"https://" + hostname` from botocore's legacy `endpoints.json` (sagemaker/utils.py,
sagemaker_core/helper/session_helper.py; sdk_and_local_mode.md §3.0). An explicit endpoint_url beats
the environment, so that call leaves the machine.

botocore's data loader looks in `~/.aws/models` before its own data folder (botocore.loaders.Loader:
CUSTOMER_DATA_PATH first), so an `endpoints.json` there is used instead of the built-in one. We write
a copy of botocore's file in which only the STS hostname changes, to the emulator's SDK https
listener (emulator/listeners.py), and clients trust that listener's certificate through
AWS_CA_BUNDLE. Nothing in the SDK or botocore is patched, and `sdk-reset` removes the file again
(restoring a file of the user's own, if one was there before). Chosen over alternatives because:
a sitecustomize hook or monkeypatch changes code; an /etc/hosts entry for sts.<region>.amazonaws.com
needs port 443 and root and is global to the machine.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

MARKER = "sagemakerEmulator"  # a top-level key botocore ignores: says which file is ours
_BACKUP_SUFFIX = ".before-sagemaker-emulator"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
DEFAULT_ENDPOINT = "http://127.0.0.1:7070"


class SetupError(RuntimeError):
    """The emulator cannot be asked, or has no SDK listener."""


def endpoints_file(home: Path | None = None) -> Path:
    return (home or Path.home()) / ".aws" / "models" / "endpoints.json"


def server_info(endpoint: str, containers: bool = False) -> dict:
    """The running emulator's /_emulator/health answer (SDK listener port, CA bundle, region; with
    `containers`, the address containers reach it at)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own loopback server
    query = "?containers" if containers else ""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_emulator/health{query}", timeout=30,
                                    context=context) as response:
            return json.load(response)
    except OSError as exc:
        raise SetupError(f"no SageMaker Emulator answers at {endpoint} ({exc}); start it with "
                         "`sagemaker-emulator serve` or pass --endpoint") from None


def sts_hostname(endpoint: str, info: dict) -> str:
    """`<host>:<SDK https port>`: the hostname the SDK's STS client will get, with the host the user
    reaches the emulator by."""
    port = info.get("sdkHttpsPort")
    if not port:
        raise SetupError("this emulator runs without its SDK https listener (serve --sdk-https-port -1)")
    host = urlsplit(endpoint).hostname or "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpoints_override(hostname: str) -> dict:
    """botocore's own endpoints.json with every partition's STS endpoints resolving to `hostname`."""
    import botocore
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    for partition in data["partitions"]:
        partition.setdefault("services", {})["sts"] = {
            "defaults": {"hostname": hostname, "protocols": ["https"]},
            "endpoints": {region: {} for region in partition.get("regions", {})},
        }
    data[MARKER] = {"stsHostname": hostname, "note": "written by `sagemaker-emulator sdk-setup`; "
                                                      "`sagemaker-emulator sdk-reset` removes it"}
    return data


def is_ours(path: Path) -> bool:
    try:
        return MARKER in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def setup(endpoint: str = DEFAULT_ENDPOINT, home: Path | None = None, info: dict | None = None) -> Path:
    """Write the override (keeping a user's own endpoints.json aside); idempotent."""
    info = info or server_info(endpoint)
    path = endpoints_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not is_ours(path):
        path.replace(path.with_name(path.name + _BACKUP_SUFFIX))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(endpoints_override(sts_hostname(endpoint, info))))
    tmp.replace(path)
    return path


def reset(home: Path | None = None) -> bool:
    """Remove our override and restore what was there before; False when there was nothing of ours."""
    path = endpoints_file(home)
    if not is_ours(path):
        return False
    path.unlink()
    backup = path.with_name(path.name + _BACKUP_SUFFIX)
    if backup.exists():
        backup.replace(path)
    else:
        for folder in (path.parent, path.parent.parent):  # ~/.aws/models, ~/.aws if we made them empty
            try:
                folder.rmdir()
            except OSError:
                break
    return True


def environment(endpoint: str = DEFAULT_ENDPOINT, info: dict | None = None,
                local_mode: bool = False) -> dict[str, str]:
    """Every variable a shell or a test process needs to point AWS clients at the emulator.

    local_mode: also AWS_ENDPOINT_URL_S3 at the address containers reach the emulator at. The SDK's
    local mode hands its S3 endpoint to the containers it starts (training containers download
    sourcedir.tar.gz themselves), and a loopback address inside a container is the container.
    """
    info = info or server_info(endpoint, containers=local_mode)
    region = info.get("region") or "us-east-1"
    env = {"AWS_ENDPOINT_URL": endpoint.rstrip("/"), **TEST_CREDENTIALS,
           "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    if info.get("caBundle"):
        env["AWS_CA_BUNDLE"] = info["caBundle"]
    if local_mode:
        if not info.get("containerEndpoint"):
            raise SetupError("the emulator knows no address containers can reach it at (is Docker running?)")
        env["AWS_ENDPOINT_URL_S3"] = info["containerEndpoint"]
    return env


def configure(endpoint: str, home: Path) -> dict[str, str]:
    """What `sdk-setup` + `eval "$(sagemaker-emulator env)"` do, for a harness such as a pytest plugin:
    writes the override under `home` and returns the environment for processes that run with
    HOME=`home` (included). For SDK code in the harness's own process, also enter in_process(home)."""
    info = server_info(endpoint)
    setup(endpoint, home, info)
    return {**environment(endpoint, info), "HOME": str(home)}


@contextmanager
def in_process(home: Path) -> Iterator[None]:
    """Within the block, this process's botocore reads data overrides from `home`/.aws/models, as
    it would with HOME=`home` at start-up (botocore computes that folder once, at import)."""
    from botocore.loaders import Loader
    before = Loader.CUSTOMER_DATA_PATH
    Loader.CUSTOMER_DATA_PATH = str(endpoints_file(home).parent)
    try:
        yield
    finally:
        Loader.CUSTOMER_DATA_PATH = before


def shell_exports(env: dict[str, str]) -> str:
    import shlex
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
