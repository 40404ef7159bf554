"""I/O in handlers (PD105): files, HTTP, sockets, subprocesses, pathlib."""
# ruff: noqa: ASYNC210, ASYNC221, ASYNC230, ASYNC240

from __future__ import annotations

import asyncio
import pathlib
import socket
import subprocess
import urllib.request
from pathlib import Path

import aiohttp
import httpx
import requests

import perdure

ROOT = Path("/srv/data")

io_service = perdure.Service("Io")


@io_service.handler()
async def files(ctx: perdure.Context, name: str) -> str:
    with open(name) as f:  # expect: PD105
        text = f.read()
    text += Path(name).read_text()  # expect: PD105
    (Path("/tmp") / name).write_text(text)  # expect: PD105
    target = pathlib.Path("/tmp") / "copy"
    target.write_bytes(text.encode())  # expect: PD105
    if ROOT.joinpath(name).exists():  # expect: PD105
        text += (ROOT / name).parent.read_text()  # expect: PD105
    here = Path.cwd()  # expect: PD105
    return text + str(here)


@io_service.handler()
async def network(ctx: perdure.Context, url: str) -> str:
    body = httpx.get(url).text  # expect: PD105
    async with httpx.AsyncClient() as client:  # expect: PD105
        body += (await client.get(url)).text
    body += requests.post(url, json={}).text  # expect: PD105
    with urllib.request.urlopen(url) as answer:  # expect: PD105
        body += answer.read().decode()
    connection = socket.create_connection(("example.com", 80))  # expect: PD105
    connection.close()
    async with aiohttp.ClientSession() as session:  # expect: PD105
        body += str(session)
    return body


@io_service.handler()
async def processes(ctx: perdure.Context) -> str:
    done = subprocess.run(["true"], check=False)  # expect: PD105
    child = await asyncio.create_subprocess_exec("true")  # expect: PD105
    await child.wait()
    return str(done.returncode)
