"""DCGAN Explorer: the browser app. Hugging Face Spaces runs this file.

python app.py                          # http://127.0.0.1:7860, the shipped Fashion-MNIST model
python app.py --model runs/fmnist      # a training run (or any model folder, or a Hub id)
python app.py --host 0.0.0.0 --share   # reachable from other machines / a public gradio.live link
"""

import argparse
import os


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="DCGAN Explorer: see what a DCGAN has learned, in the browser.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--model", action="append", default=[], help="a model folder or Hub id to show first")
    parser.add_argument("--checkpoints", help="folder of shipped models (default: checkpoints/, or $DCGAN_CHECKPOINTS)")
    parser.add_argument("--runs", help="folder of training runs (default: runs/, or $DCGAN_RUNS)")
    parser.add_argument("--uploads", help="where uploaded models go (default: ~/.cache/dcgan-explorer/uploads)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from dcgan.ui import build_app, launch  # imported after --help: torch + gradio take ~6 s

    demo = build_app(checkpoints_dir=args.checkpoints, runs_dir=args.runs, uploads_dir=args.uploads, models=args.model)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
