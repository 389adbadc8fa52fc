"""memkv: the single-node, in-memory test subject of the harness itself."""

from systems.common.spec import SystemSpec
from systems.memkv.client import make_kv_client, make_register_client, make_set_client

__all__ = ["SYSTEM"]

SYSTEM = SystemSpec(
    name="memkv",
    description="single-node in-memory KV (the harness's own test subject; loses data on kill)",
    server_module="systems.memkv.server",
    clients={"register": make_register_client, "kv": make_kv_client, "set": make_set_client},
    bugs={},
    max_nodes=1,
)
