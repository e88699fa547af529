"""Server latency: ``/act`` under concurrent clients on loopback, and the adapter hot-swap time.

    python bench/serve.py                          # transformers, tiny model, 1/4/16 clients
    python bench/serve.py --backend mlx --requests 64 --tokens 8
    python bench/serve.py --vllm                   # also /act delegated to a vLLM server (.venv-vllm)

The server runs in this process (uvicorn on a thread, one policy worker); each client is a
thread with its own HTTP connection sending ``POST /act`` back to back. The baseline in the
same run is the policy's own ``generate`` called in process: the table shows what HTTP, JSON
and the queue add on top. Swap time is ``POST /adapters/{name}/load`` then ``/unload`` of a
small LoRA adapter, with the base model loaded once. With ``--vllm`` the same clients also
ask a second app whose policy is a vLLM server on the same model (``traj serve --engine
vllm``), each level right after the in-process one, and the table adds its latency and its
ratio to the in-process latency. The last line is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from traj.policy import open_policy
from traj.prompt import Prompt
from traj.serve import create_app, serve_in_thread

PROMPT = "You are a browser agent. Goal: submit the expense report.\nPage: [e1] button 'Submit'\nNext action:"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="transformers", choices=["transformers", "mlx"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=48, help="requests per concurrency level")
    parser.add_argument("--tokens", type=int, default=8, help="max new tokens per request")
    parser.add_argument("--swaps", type=int, default=5)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the tiny model)")
    parser.add_argument("--vllm", action="store_true", help="also measure /act through a vLLM server")
    args = parser.parse_args(argv)

    console = Console()
    policy = open_policy(args.backend, args.model)
    prompt = Prompt(PROMPT, 0)
    direct = _generate_times(policy, prompt, args.tokens)
    rows: dict[int, dict[str, float]] = {}
    vllm_rows: dict[int, dict[str, float]] = {}
    vllm_direct: list[float] = []
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(create_app(policy)))
        vllm_url = None
        if args.vllm:
            from traj.policy import VLLMPolicy, start_vllm

            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "vllm.log"
            served = VLLMPolicy(base_url=stack.enter_context(start_vllm(policy.model_id, log_path=log)))
            vllm_direct = _generate_times(served, prompt, args.tokens)
            vllm_url = stack.enter_context(serve_in_thread(create_app(served)))
        for clients in args.clients:  # interleaved, so both sides see the same load on a shared machine
            rows[clients] = _act_latency(url, clients, args.requests, args.tokens)
            if vllm_url is not None:
                vllm_rows[clients] = _act_latency(vllm_url, clients, args.requests, args.tokens)
        swaps = _swap_times(url, args.model or policy.model_id, args.swaps)

    direct_ms = 1000 * statistics.median(direct)
    columns = ["clients", "p50 ms", "p95 ms", "req/s", "p50 / direct generate"]
    if vllm_rows:
        columns += ["vllm p50 ms", "vllm req/s", "vllm p50 / in-process p50"]
    table = Table(*columns, header_style="bold")
    for clients, row in rows.items():
        cells = [
            str(clients),
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"{row['req_per_s']:.1f}",
            f"{row['p50_ms'] / direct_ms:.2f}x",
        ]
        if vllm_rows:
            served = vllm_rows[clients]
            cells += [
                f"{served['p50_ms']:.1f}",
                f"{served['req_per_s']:.1f}",
                f"{served['p50_ms'] / row['p50_ms']:.2f}x",
            ]
        table.add_row(*cells)
    console.print(f"/act on {args.backend}, {args.tokens} new tokens; direct generate p50 {direct_ms:.1f} ms")
    if vllm_direct:
        vllm_direct_ms = 1000 * statistics.median(vllm_direct)
        console.print(
            f"vLLM: VLLMPolicy.generate p50 {vllm_direct_ms:.1f} ms ({vllm_direct_ms / direct_ms:.2f}x direct)"
        )
    console.print(table)
    console.print(
        f"adapter swap: load p50 {swaps['load_ms']:.1f} ms, unload p50 {swaps['unload_ms']:.1f} ms "
        f"(base loaded once: {getattr(policy, 'base_loads', 1)})"
    )
    result = {
        "bench": "serve",
        "backend": args.backend,
        "tokens": args.tokens,
        "direct_generate_p50_ms": round(direct_ms, 2),
        "act": {str(c): {k: round(v, 2) for k, v in r.items()} for c, r in rows.items()},
        "swap": {k: round(v, 2) for k, v in swaps.items()},
    }
    if vllm_rows:
        result["vllm_direct_generate_p50_ms"] = round(1000 * statistics.median(vllm_direct), 2)
        result["vllm_act"] = {str(c): {k: round(v, 2) for k, v in r.items()} for c, r in vllm_rows.items()}
        result["vllm_over_in_process_p50"] = {
            str(c): round(vllm_rows[c]["p50_ms"] / rows[c]["p50_ms"], 3) for c in rows
        }
    print(json.dumps(result))
    return 0


def _generate_times(policy: Any, prompt: Prompt, tokens: int, runs: int = 10) -> list[float]:
    """Seconds of ``runs`` calls of the policy's own ``generate``, after one to warm up."""
    policy.generate(prompt, max_new_tokens=tokens)
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        policy.generate(prompt, max_new_tokens=tokens)
        took.append(time.perf_counter() - started)
    return took


def _act_latency(url: str, clients: int, requests: int, tokens: int) -> dict[str, float]:
    """p50, p95 and throughput of ``POST /act`` from ``clients`` concurrent clients, after a warm-up."""
    body = {"prompt": PROMPT, "max_new_tokens": tokens}

    def client(count: int) -> list[float]:
        took = []
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(count):
                started = time.perf_counter()
                http.post("/act", json=body).raise_for_status()
                took.append(time.perf_counter() - started)
        return took

    client(2)
    per_client = max(1, requests // clients)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for part in pool.map(client, [per_client] * clients) for t in part]
    wall = time.perf_counter() - started
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * _p95(latencies),
        "req_per_s": len(latencies) / wall,
    }


def _swap_times(url: str, model: str | Path, swaps: int) -> dict[str, float]:
    """Median load and unload of a small LoRA adapter over HTTP."""
    loads, unloads = [], []
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(base_url=url, timeout=120) as http:
        adapter = _lora(Path(model), Path(tmp) / "lora")
        for _ in range(swaps):
            started = time.perf_counter()
            http.post("/adapters/bench/load", json={"path": str(adapter)}).raise_for_status()
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            http.post("/adapters/bench/unload").raise_for_status()
            unloads.append(time.perf_counter() - started)
    return {"load_ms": 1000 * statistics.median(loads), "unload_ms": 1000 * statistics.median(unloads)}


def _lora(model: Path, dest: Path) -> Path:
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        peft = get_peft_model(
            AutoModelForCausalLM.from_pretrained(model),
            LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
        )
    peft.save_pretrained(dest)
    return dest


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())
