"""Drives the perstack base skill over stdio with the official Python MCP SDK.

Usage: mcp_stdio_client.py SERVER_BINARY WORKSPACE
Prints one JSON object with what it saw; the Rust test asserts on it.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def text_of(result):
    return json.loads(result.content[0].text)


async def main(server: str, workspace: str) -> None:
    params = StdioServerParameters(command=server, args=["--workspace", workspace])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            written = await session.call_tool(
                "writeTextFile", {"path": "from-python/hello.txt", "text": "hello from python\nline 2"}
            )
            read_back = await session.call_tool("readTextFile", {"path": "from-python/hello.txt"})
            listing = await session.call_tool("listDirectory", {"path": "."})
            denied = await session.call_tool("readTextFile", {"path": "perstack/secret.json"})
            print(
                json.dumps(
                    {
                        "serverName": init.server_info.name,
                        "tools": sorted(t.name for t in tools.tools),
                        "written": text_of(written),
                        "writtenIsError": bool(written.is_error),
                        "read": text_of(read_back),
                        "listing": [i["name"] for i in text_of(listing)["items"]],
                        "denied": text_of(denied),
                        "deniedIsError": bool(denied.is_error),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
