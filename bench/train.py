"""SDFT throughput and memory: traj's trainer against TRL's experimental ``SDFTTrainer``.

Both train the same LoRA (rank 16, all linear layers) on the same tiny model, the same
prompts and teacher contexts, with the same batch size, learning rate, warmup and cosine
schedule, grad clip, EMA teacher rate, first-tokens mask, full-vocabulary reverse KL and
completion length (TRL: ``distillation_mode="full_logits"``, ``distillation_alpha=1`` = reverse
KL, ``teacher_model_kind="ema"``, one generation per prompt, no importance-sampling clip).
Each trainer runs in its own process, so its peak resident memory (``ru_maxrss``) is its own;
the rounds alternate which goes first and keep each trainer's fastest, against shared CPUs.

tokens/s = sampled completion tokens per second of training (model loading excluded). A step
costs about the same however long its rows turn out (the batch decodes until its longest row
ends), and each trainer samples with its own random stream, so over a few steps the ratio
mostly says who drew longer answers: 24 steps (96 rollouts each) is the default because there
the two sample nearly the same number of tokens (2,901 vs 2,857 on the tiny model).
Targets: traj >= 1.3x TRL's tokens/s and <= TRL's peak memory.

Both sides run float32 on the CPU, as traj's ``dtype=auto`` does there: TRL's configs default
to ``bf16=True``, which on the CPU autocasts every matmul to bfloat16 (a different computation,
and on CPUs without native bf16 an emulated, many times slower one). The JSON line records
each side's versions, thread count, precision and per-phase seconds, and the machine's load,
and a TRL rate far below what it reaches on this model (``EXPECTED_TRL_TOKENS_PER_S``) marks the
run ``baseline_suspect`` instead of reporting the ratio as met.

    nice -n 10 python bench/train.py [--steps 24] [--batch-size 4] [--rounds 2]

TRL is an optional dependency: ``pip install 'traj[bench]'``.

``--device cuda`` is the GPU check instead (no TRL needed, no network): randomly initialised
Llama-shaped bases at 1B and 8B parameters (config only, the tiny tokenizer, a 128K
vocabulary), N SDFT steps each in bfloat16 on the GPU, tokens/s, the step split (rollout,
student, teacher, backward, optimizer, EMA) and peak GPU memory, then TRL's ``SDFTTrainer`` on
the 1B shape where TRL is installed; a JSON line at the end. See scripts/gpu-check.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

RANK, LR, ALPHA, MASK = 16, 1e-4, 0.1, 3
TARGET_SPEEDUP = 1.3
EXPECTED_TRL_TOKENS_PER_S = 240.0
"""TRL's rate on the tiny model on a quiet 2-core CPU (measured 237-240); far below it, the
baseline itself is broken (load, threads, precision) and the ratio means nothing."""
SUSPECT_BELOW = 0.25


def prompts(count: int) -> list[tuple[str, str]]:
    """(student prompt, privileged context) pairs shaped like the agent's: a page, a goal, a demonstration."""
    out = []
    for i in range(count):
        page = "\n".join(f'[e{j}] button "Item {i * 7 + j}" price {j * 3 + i}.50' for j in range(12))
        query = f"Goal: open item {i} and pay it\nPage:\n{page}\nStep {i % 4}\nNext action:"
        context = f'Demonstration: at this step the user clicked e{i % 12} ("Item {i * 7 + i % 12}") to open it.'
        out.append((query, context))
    return out


def run_traj(
    model_dir: str,
    data: list[tuple[str, str]],
    steps: int,
    batch_size: int,
    new_tokens: int,
    *,
    device: str = "cpu",
    base: Any = None,
    warmup: int = 0,
) -> dict:
    """traj's SDFT over the plan; ``warmup`` first steps run but are not timed (GPU kernels' first use)."""
    from traj.train import SdftConfig, SdftTrainer, TrainingExample, batches

    # TRL's teacher prompt is "{prompt}\n\n{privileged_context}"; traj's teacher_query is given whole
    examples = [TrainingExample(query=q, teacher_query=f"{q}\n\n{c}", target="") for q, c in data]
    config = SdftConfig(
        rank=RANK,
        lora_alpha=2.0 * RANK,
        learning_rate=LR,
        max_steps=steps + warmup,
        batch_size=batch_size,
        ema_alpha=ALPHA,
        divergence="reverse",  # TRL's distillation_alpha=1 (traj's default is the forward KL)
        mask_first_tokens=MASK,
        max_new_tokens=new_tokens,
        checkpoint_every=0,
        device=device,
    )
    trainer = SdftTrainer(model_dir, config, total_steps=steps + warmup, base=base)
    plan = batches(examples, config)
    for batch in plan[:warmup]:
        trainer.step(batch)
    started = time.perf_counter()
    tokens, phases = 0, {}
    for batch in plan[warmup:]:
        metrics = trainer.step(batch)
        tokens += metrics.response_tokens
        for phase, seconds in metrics.phases.items():
            phases[phase] = phases.get(phase, 0.0) + seconds
    return {
        "tokens": tokens,
        "seconds": time.perf_counter() - started,
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "device": str(trainer.placement.device),
        "dtype": trainer.placement.dtype_name,
        "peak_memory_mb": round(trainer.peak_memory() / 2**20, 1),
    }


def run_trl(
    model_dir: str,
    data: list[tuple[str, str]],
    steps: int,
    batch_size: int,
    new_tokens: int,
    *,
    device: str = "cpu",
    base: Any = None,
) -> dict:
    """TRL's SDFTTrainer on the same plan: float32 on the CPU, bfloat16 on a GPU (as traj's ``auto``)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    on_gpu = device.startswith("cuda")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = base if base is not None else AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": q}], "privileged_context": c} for q, c in data]
    )
    args = SDFTConfig(
        output_dir=os.environ.get("TMPDIR", "/tmp") + "/traj-bench-trl",
        use_cpu=not on_gpu,
        bf16=on_gpu,  # TRL's default (True) autocasts the CPU's matmuls to bfloat16: not what traj computes there
        report_to="none",
        save_strategy="no",
        logging_steps=steps,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=1,
        gradient_checkpointing=False,  # TRL's default is on; traj keeps activations, so compare like for like
        num_generations=1,
        learning_rate=LR,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(steps * 0.1)),  # what traj's schedule does with warmup_ratio 0.1
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_completion_length=new_tokens,
        max_prompt_length=4096,
        temperature=1.0,
        distillation_mode="full_logits",
        distillation_alpha=1.0,
        distillation_is_clip=None,
        num_loss_tokens_to_skip=MASK,
        teacher_model_kind="ema",
        teacher_update_rate=ALPHA,
        seed=0,
    )
    peft = LoraConfig(
        r=RANK,
        lora_alpha=2 * RANK,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    trainer = SDFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft)
    counted = {"tokens": 0}
    phases = _time_trl_phases(trainer, device)
    generate = trainer._generate

    def counting(prompt_ids: list[list[int]]) -> Any:
        result = generate(prompt_ids)
        counted["tokens"] += sum(len(ids) for ids in result[1])
        return result

    trainer._generate = counting  # count the completion tokens it samples, nothing else
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    inner = phases["rollout"] + phases["forwards"]
    split = {
        "rollout": phases["rollout"],
        "student_and_teacher": phases["forwards"],
        "backward": phases["training_step"] - inner - phases["loss"],
        "loss": phases["loss"],
        "ema": phases["ema"],
        "optimizer_and_rest": seconds - phases["training_step"] - phases["ema"],
    }
    return {
        "tokens": counted["tokens"],
        "seconds": seconds,
        "phases": {k: round(v, 3) for k, v in split.items()},
        "device": device,
        "dtype": "bfloat16 autocast" if args.bf16 else "float32",
        "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if on_gpu else None,
    }


def _time_trl_phases(trainer: Any, device: str) -> dict[str, float]:
    """Wrap TRL's step methods to add up their seconds: rollouts (``_generate``), the student
    and teacher forwards, the loss, the whole training step (forwards and backward) and the
    EMA callback; synchronised on a GPU."""
    import functools

    import torch

    seconds = dict.fromkeys(("rollout", "forwards", "loss", "training_step", "ema"), 0.0)

    def timed(name: str, function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                seconds[name] += time.perf_counter() - started

        return wrapper

    trainer._generate = timed("rollout", trainer._generate)
    trainer._compute_teacher_student_logits = timed("forwards", trainer._compute_teacher_student_logits)
    trainer._compute_self_distillation_loss = timed("loss", trainer._compute_self_distillation_loss)
    trainer.training_step = timed("training_step", trainer.training_step)
    for callback in trainer.callback_handler.callbacks:
        if hasattr(callback, "on_step_end") and "EMA" in type(callback).__name__:
            callback.on_step_end = timed("ema", callback.on_step_end)
    return seconds


def worker(which: str, model_dir: str, steps: int, batch_size: int, new_tokens: int) -> None:
    import torch

    data = prompts(steps * batch_size)
    run = run_traj if which == "traj" else run_trl
    result = run(model_dir, data, steps, batch_size, new_tokens)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    result["versions"] = _versions(trl=which == "trl")
    print(json.dumps(result))


def _versions(*, trl: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers", "peft"] + (["trl", "accelerate"] if trl else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def measure(which: str, model_dir: str, steps: int, batch_size: int, new_tokens: int) -> dict:
    """Run one trainer in a fresh process; its last stdout line is its JSON result."""
    command = [sys.executable, __file__, "--worker", which, "--model", model_dir, "--steps", str(steps)]
    command += ["--batch-size", str(batch_size), "--new-tokens", str(new_tokens)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["tokens_per_s"] = result["tokens"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="Runs per trainer, alternating order (best kept).")
    parser.add_argument("--model", default=None, help="Base model directory (default: the tiny model).")
    parser.add_argument("--worker", choices=["traj", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help="cpu: traj against TRL; cuda: the GPU check instead.")
    parser.add_argument("--shapes", default="1b,8b", help="Device check: base shapes to build (1b, 8b, test).")
    parser.add_argument("--check", action="store_true", help="Run the device check on --device (cuda implies it).")
    args = parser.parse_args()
    if args.check or args.device != "cpu":
        from gpu_check import gpu_check  # bench/ is the script's directory

        # the check needs only a tokenizer: the untrained tiny model builds in seconds, no pretraining
        if args.model is None:
            import tempfile

            from traj.tiny import build_untrained

            args.model = str(build_untrained(tempfile.mkdtemp(prefix="traj-check-"), seed=0))
        gpu_check(args.model, args.device, args.shapes.split(","), args.steps, args.batch_size, args.new_tokens)
        return
    if args.model is None:
        from traj.tiny import init_tiny

        args.model = str(init_tiny())
    if args.worker:
        worker(args.worker, args.model, args.steps, args.batch_size, args.new_tokens)
        return

    load_before = os.getloadavg()[0]
    settings = (args.model, args.steps, args.batch_size, args.new_tokens)
    runs: dict[str, list[dict]] = {"traj": [], "trl": []}
    for round_ in range(args.rounds):  # alternate who goes first; keep each one's best round
        for name in ("traj", "trl") if round_ % 2 == 0 else ("trl", "traj"):
            runs[name].append(measure(name, *settings))
    results = {name: max(found, key=lambda r: r["tokens_per_s"]) for name, found in runs.items()}
    traj, trl = results["traj"], results["trl"]
    speedup = traj["tokens_per_s"] / trl["tokens_per_s"]
    memory = traj["peak_rss_mb"] / trl["peak_rss_mb"]
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    suspect = trl["tokens_per_s"] < SUSPECT_BELOW * EXPECTED_TRL_TOKENS_PER_S
    print(f"SDFT, {args.steps} steps x batch {args.batch_size}, rank {RANK}, <= {args.new_tokens} new tokens, CPU")
    print(f"{'trainer':<8} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'peak RSS MB':>12}")
    for name, r in results.items():
        line = f"{r['tokens']:>7} {r['seconds']:>8.1f} {r['tokens_per_s']:>9.1f} {r['peak_rss_mb']:>12.0f}"
        print(f"{name:<8} {line}")
    print(f"traj/TRL tokens/s: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x)   peak memory: {memory:.2f}x (target <= 1)")
    for name, r in results.items():
        print(f"{name} seconds per phase: {r['phases']}  ({r['threads']} threads, {r['dtype']})")
    if suspect:
        print(
            f"BASELINE SUSPECT: TRL ran at {trl['tokens_per_s']:.1f} tokens/s, under {SUSPECT_BELOW:.0%} of its "
            f"expected {EXPECTED_TRL_TOKENS_PER_S:.0f} on this model (load average {load}, {trl['threads']} threads): "
            "the ratio is not reported as met"
        )
    summary = {
        "bench": "train",
        "steps": args.steps,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "traj_tokens_per_s": round(traj["tokens_per_s"], 2),
        "trl_tokens_per_s": round(trl["tokens_per_s"], 2),
        "speedup": round(speedup, 3),
        "traj_peak_rss_mb": round(traj["peak_rss_mb"], 1),
        "trl_peak_rss_mb": round(trl["peak_rss_mb"], 1),
        "memory_ratio": round(memory, 3),
        "speed_target_met": None if suspect else speedup >= TARGET_SPEEDUP,
        "memory_target_met": memory <= 1.0,
        "baseline_suspect": suspect,
        "load_average": load,
        "cpus": os.cpu_count(),
        "traj": {k: traj[k] for k in ("phases", "threads", "dtype", "versions", "tokens", "seconds")},
        "trl": {k: trl[k] for k in ("phases", "threads", "dtype", "versions", "tokens", "seconds")},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
