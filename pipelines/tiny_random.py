"""The `tiny-random` text-to-image model: a real Stable Diffusion pipeline with random weights.

It lets a machine without weights run text-to-image end to end through the same
diffusers code paths as a real model. It makes noise, not pictures, and says so
in every result's metadata. Built once from configs (a fixed seed, so every
machine gets the same weights) and saved, then loaded like any local model.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

NAME = "tiny-random"
DESCRIPTION = "tiny-random: a demo model with random weights; it produces noise, not pictures"


def _byte_level_vocab() -> dict[str, int]:
    """A byte-level CLIP vocabulary with no merges: every character is one token."""
    from tokenizers import pre_tokenizers

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]
    return {token: index for index, token in enumerate(tokens)}


def build(destination: Path) -> Path:
    """Build the model into `destination` (atomically) and return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    logger.warning("building the %s", DESCRIPTION)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        tokenizer = CLIPTokenizer(vocab=_byte_level_vocab(), merges=[], model_max_length=77)
        torch.manual_seed(0)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                max_position_embeddings=77,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 32, 64),
            layers_per_block=1,
            # Attention only at the coarsest level keeps a 512x512 step cheap on a CPU.
            down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
        )
        # Four blocks give the 8x latent scale of real SD models, so sizes behave alike.
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(8, 16, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=64,
        )
        pipeline = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=EulerDiscreteScheduler(
                beta_start=0.00085,
                beta_end=0.012,
                beta_schedule="scaled_linear",
                steps_offset=1,
                timestep_spacing="leading",
            ),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        staged = Path(work) / "model"
        pipeline.save_pretrained(staged)  # type: ignore[attr-defined]
        # Another process may have finished first; theirs is identical, keep it.
        if not destination.exists():
            try:
                staged.rename(destination)
            except OSError:
                if not destination.exists():
                    raise
        shutil.rmtree(staged, ignore_errors=True)
    return destination
