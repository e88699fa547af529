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

    nice -n 10 python bench/train.py [--steps 24] [--batch-size 4] [--rounds 2]

TRL is an optional dependency: ``pip install 'traj[bench]'``.
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


def prompts(count: int) -> list[tuple[str, str]]:
    """(student prompt, privileged context) pairs shaped like the agent's: a page, a goal, a demonstration."""
    out = []
    for i in range(count):
        page = "\n".join(f'[e{j}] button "Item {i * 7 + j}" price {j * 3 + i}.50' for j in range(12))
        query = f"Goal: open item {i} and pay it\nPage:\n{page}\nStep {i % 4}\nNext action:"
        context = f'Demonstration: at this step the user clicked e{i % 12} ("Item {i * 7 + i % 12}") to open it.'
        out.append((query, context))
    return out


def run_traj(model_dir: str, data: list[tuple[str, str]], steps: int, batch_size: int, new_tokens: int) -> dict:
    from traj.train import SdftConfig, SdftTrainer, TrainingExample, batches

    # TRL's teacher prompt is "{prompt}\n\n{privileged_context}"; traj's teacher_query is given whole
    examples = [TrainingExample(query=q, teacher_query=f"{q}\n\n{c}", target="") for q, c in data]
    config = SdftConfig(
        rank=RANK,
        lora_alpha=2.0 * RANK,
        learning_rate=LR,
        max_steps=steps,
        batch_size=batch_size,
        ema_alpha=ALPHA,
        mask_first_tokens=MASK,
        max_new_tokens=new_tokens,
        checkpoint_every=0,
    )
    trainer = SdftTrainer(model_dir, config, total_steps=steps)
    plan = batches(examples, config)
    started = time.perf_counter()
    tokens = sum(trainer.step(batch).response_tokens for batch in plan)
    return {"tokens": tokens, "seconds": time.perf_counter() - started}


def run_trl(model_dir: str, data: list[tuple[str, str]], steps: int, batch_size: int, new_tokens: int) -> dict:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": q}], "privileged_context": c} for q, c in data]
    )
    args = SDFTConfig(
        output_dir=os.environ.get("TMPDIR", "/tmp") + "/traj-bench-trl",
        use_cpu=True,
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
    generate = trainer._generate

    def counting(prompt_ids: list[list[int]]) -> Any:
        result = generate(prompt_ids)
        counted["tokens"] += sum(len(ids) for ids in result[1])
        return result

    trainer._generate = counting  # count the completion tokens it samples, nothing else
    started = time.perf_counter()
    trainer.train()
    return {"tokens": counted["tokens"], "seconds": time.perf_counter() - started}


def worker(which: str, model_dir: str, steps: int, batch_size: int, new_tokens: int) -> None:
    data = prompts(steps * batch_size)
    run = run_traj if which == "traj" else run_trl
    result = run(model_dir, data, steps, batch_size, new_tokens)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


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
    args = parser.parse_args()
    if args.model is None:
        from traj.tiny import init_tiny

        args.model = str(init_tiny())
    if args.worker:
        worker(args.worker, args.model, args.steps, args.batch_size, args.new_tokens)
        return

    settings = (args.model, args.steps, args.batch_size, args.new_tokens)
    runs: dict[str, list[dict]] = {"traj": [], "trl": []}
    for round_ in range(args.rounds):  # alternate who goes first; keep each one's best round
        for name in ("traj", "trl") if round_ % 2 == 0 else ("trl", "traj"):
            runs[name].append(measure(name, *settings))
    results = {name: max(found, key=lambda r: r["tokens_per_s"]) for name, found in runs.items()}
    traj, trl = results["traj"], results["trl"]
    speedup = traj["tokens_per_s"] / trl["tokens_per_s"]
    memory = traj["peak_rss_mb"] / trl["peak_rss_mb"]
    print(f"SDFT, {args.steps} steps x batch {args.batch_size}, rank {RANK}, <= {args.new_tokens} new tokens, CPU")
    print(f"{'trainer':<8} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'peak RSS MB':>12}")
    for name, r in results.items():
        line = f"{r['tokens']:>7} {r['seconds']:>8.1f} {r['tokens_per_s']:>9.1f} {r['peak_rss_mb']:>12.0f}"
        print(f"{name:<8} {line}")
    print(f"traj/TRL tokens/s: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x)   peak memory: {memory:.2f}x (target <= 1)")
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
        "speed_target_met": speedup >= TARGET_SPEEDUP,
        "memory_target_met": memory <= 1.0,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
