"""The training recipe's options: `maskdet train`'s arguments and the defaults that follow from them
(pretrained or from scratch: input size, width, batch norm, learning rate), and what they choose
(the augmentation, the re-cropping detector)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from maskdet.core.faces import CROP_SCALE
from maskdet.data.augment import augment_image, augment_with_grey_thumbnails, augment_without_eyewear, frame
from maskdet.data.batches import BALANCE_MODES
from maskdet.data.composite import RECIPES
from maskdet.data.splitting import DEFAULT_FRACTIONS
from maskdet.data.recrop import FaceLocator, optional_locator
from maskdet.training.new_class import MAX_FALSE_ALARMS

AUGMENTATIONS = {"full": augment_image, "no-eyewear": augment_without_eyewear,
                 "grey-thumbnails": augment_with_grey_thumbnails, "frame": frame, "none": None}
DESCRIPTION = "Train the mask classifier on one or many sources of face images."


def face_locator(args: argparse.Namespace) -> Optional[FaceLocator]:
    """The re-cropping detector these options ask for (None when off or unavailable)."""
    return optional_locator(args.recrop, args.detector, args.crop_cache)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maskdet train", description=DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, nargs="+", required=True,
                      help="sources (folders with with_mask/ and/or without_mask/) or roots of sources")
    data.add_argument("--sources", nargs="+", help="use only these sources (folder names)")
    data.add_argument("--exclude-sources", nargs="+", action="extend", default=[],
                      help="leave these sources out (repeatable: crossval adds each fold's held-out sources)")
    data.add_argument("--recrop", action=argparse.BooleanOptionalAction, default=True,
                      help="re-crop every image with the app's face detector and crop geometry (default on)")
    data.add_argument("--crop-scale", type=float, default=CROP_SCALE, help="crop side / face box side")
    data.add_argument("--detector", type=Path, help="YuNet .onnx file (default: as the app finds it)")
    data.add_argument("--crop-cache", type=Path, help="where detections are cached (default ~/.cache/maskdet)")
    data.add_argument("--balance", choices=BALANCE_MODES, default="source-class",
                      help="what each batch is balanced by (default: source and class)")
    data.add_argument("--augment", choices=sorted(AUGMENTATIONS), default="full",
                      help="full: eyewear, framing, exposure, colour and quality changes; no-eyewear: full without "
                           "the drawn glasses (the recipe before them); grey-thumbnails: full plus greyscale 40-56 px "
                           "copies; frame: framing only")
    data.add_argument("--composite", choices=sorted(RECIPES), default="full",
                      help="faces made from real ones with landmarks (maskdet.composite): full: masks pasted worn "
                           "right and worn wrong plus swapped upper faces; light: the same, with fewer pasted masks; "
                           "masks: without the swap; upper-swap: "
                           "only the swap; none: real images only")
    data.add_argument("--real-worn-wrong", type=float, default=0.1,
                      help="share of real incorrect_mask/ images among the drawn real images, relative to 1 for "
                           "each other class (0: train on none of them, e.g. to score them as never seen)")
    data.add_argument("--real-worn-wrong-sources", nargs="+",
                      help="draw real incorrect_mask/ images only from these sources; the others stay unseen (a "
                           "held-out-source fold for the worn-wrong verdict)")
    data.add_argument("--split-from", type=Path,
                      help="keep the split of this split.csv (e.g. the model named by --init-from, so its test "
                           "images stay unseen); files it does not list are split by group as usual")
    data.add_argument("--val", type=float, default=DEFAULT_FRACTIONS[1], help="validation fraction")
    data.add_argument("--test", type=float, default=DEFAULT_FRACTIONS[2], help="test fraction")
    net = parser.add_argument_group("model")
    net.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to VGG16 no-top weights")
    net.add_argument("--init-from", type=Path, help="start from this maskdet model's weights (same shape)")
    net.add_argument("--new-class-only", action="store_true",
                     help="with --init-from: fit only the last class's logit (worn_wrong) on the frozen "
                          "network (epochs x steps drawn batches); every decision between the other classes "
                          "stays the --init-from model's")
    net.add_argument("--new-class-false-alarms", type=float, default=MAX_FALSE_ALARMS,
                     help="with --new-class-only: the share of validation faces of the old classes that may be "
                          "called the new one (sets its bias)")
    net.add_argument("--input-size", type=int, help="default: 224 with pretrained weights, else 128")
    net.add_argument("--width", type=float, help="filter multiplier; default 1.0 pretrained, else 0.25")
    net.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                     help="BatchNormalization after each conv (default: on from scratch, off pretrained)")
    fit = parser.add_argument_group("optimisation")
    fit.add_argument("--out", type=Path, default=Path("runs/train"), help="output folder")
    fit.add_argument("--epochs", type=int, default=40, help="epochs (the learning rate follows a cosine to the last)")
    fit.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default: training images / batch size)")
    fit.add_argument("--head-epochs", type=int, default=10, help="stage-1 epochs (pretrained only)")
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--lr", type=float, help="peak rate; default 1e-5 fine-tuning, 1e-3 from scratch with batch norm, else 3e-4")
    fit.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up before the cosine")
    fit.add_argument("--patience", type=int, default=10, help="early-stopping patience (epochs)")
    fit.add_argument("--monitor-per-stratum", type=int, default=200,
                     help="validation images per (source, class) scored each epoch")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                     help="XLA-compile the training step (about 1.3x faster on CPU; single device only)")
    fit.add_argument("--cpu-devices", type=int, default=1,
                     help="split the CPU into N logical devices and train mirrored across them (tests the "
                          "multi-GPU path without GPUs)")
    fit.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    args = parser.parse_args(argv)
    if args.new_class_only and not args.init_from:
        parser.error("--new-class-only needs --init-from (the model the class is added to)")
    args.pretrained = args.weights.lower() != "none"
    args.weights = args.weights if args.pretrained else None
    args.input_size = args.input_size or (224 if args.pretrained else 128)
    args.width = args.width or (1.0 if args.pretrained else 0.25)
    args.batch_norm = (not args.pretrained) if args.batch_norm is None else args.batch_norm
    args.lr = args.lr or (1e-5 if args.pretrained else 1e-3 if args.batch_norm else 3e-4)
    return args


