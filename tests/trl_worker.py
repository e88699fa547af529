"""Runs in .venv-trl (stock trl + datasets + peft + torch, no traj): train one step on each export as it is.

Usage: python trl_worker.py EXPORTS_DIR MODEL_DIR REPORT_JSON

EXPORTS_DIR holds ``<strategy>.jsonl`` and ``<strategy>.parquet`` for from_feedback, from_runs
(per decision), sdft and preference. Every dataset is loaded with ``datasets.load_dataset`` and
handed to the matching trainer without renaming a column. The report (written as JSON) gives,
per file, its features as ``datasets`` reads them; per trainer, the global step and loss after
one step; the prompt token ids SFTTrainer made of each sdft row; and the text of TRL's SDFT
teacher prompt for each sdft row, built by the trainer's own teacher context builder and the
tokenizer's chat template.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path


def main(exports: Path, model_dir: Path) -> dict:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    report: dict = {"features": {}, "trained": {}}
    data = {}
    for path in sorted(exports.iterdir()):
        loaded = load_dataset(path.suffix[1:] if path.suffix == ".parquet" else "json", data_files=str(path))["train"]
        report["features"][path.name] = {name: repr(feature) for name, feature in loaded.features.items()}
        data[path.name] = loaded
    scratch = Path(tempfile.mkdtemp())

    def model():
        return AutoModelForCausalLM.from_pretrained(model_dir)

    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    common = {"max_steps": 1, "per_device_train_batch_size": 2, "report_to": "none", "bf16": False, "use_cpu": True}
    sft_sets = {
        "from_feedback": data["from_feedback.jsonl"].filter(lambda row: row["label"] == "good"),
        "from_runs": data["from_runs.jsonl"],
        "sdft": data["sdft.parquet"],
    }
    for name, dataset in sft_sets.items():
        trainer = SFTTrainer(
            model=model(),
            args=SFTConfig(output_dir=str(scratch / name), max_length=2048, **common),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        report["trained"][f"sft:{name}"] = _step(trainer)
        if name == "sdft":  # the token ids SFT trains on before the completion: its prompt as TRL templated it
            report["sft_prompt_ids"] = [_prompt_ids(row["input_ids"], row["labels"]) for row in trainer.train_dataset]
    dpo = DPOTrainer(
        model=model(),
        args=DPOConfig(output_dir=str(scratch / "dpo"), max_length=2048, **common),
        train_dataset=data["preference.jsonl"],
        processing_class=tokenizer,
    )
    report["trained"]["dpo:preference"] = _step(dpo)
    sdft = SDFTTrainer(
        model=model(),
        args=SDFTConfig(
            output_dir=str(scratch / "sdft"),
            max_completion_length=8,
            num_generations=1,
            **common,
        ),
        train_dataset=data["sdft.jsonl"],
        processing_class=tokenizer,
    )
    report["trained"]["sdft:sdft"] = _step(sdft)
    builder = sdft.teacher_context_builder
    report["teacher_texts"] = [
        tokenizer.apply_chat_template(
            builder._compose_teacher_prompt(row["prompt"], row["privileged_context"]),
            tokenize=False,
            add_generation_prompt=True,
        )
        for row in data["sdft.jsonl"]
    ]
    return report


def _prompt_ids(input_ids: list[int], labels: list[int]) -> list[int]:
    """The tokens before the first one SFT learns (label -100 marks the prompt's)."""
    first = next(i for i, label in enumerate(labels) if label != -100)
    return input_ids[:first]


def _step(trainer) -> dict:
    result = trainer.train()
    loss = float(result.training_loss)
    return {"global_step": result.global_step, "loss": loss if math.isfinite(loss) else repr(loss)}


if __name__ == "__main__":
    Path(sys.argv[3]).write_text(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
