"""What every view asks of a loaded model, as plain data: the `Explorer` (explorer.py) and one module per view
(walk, interpolation, arithmetic, inside, ablation and forgetting), plus the attribute directions, the
measured Figure 7 and the forward hooks that look inside the networks. The app's tabs (dcgan/ui/) and the
CLI's figures (dcgan/cli/figures.py) call the same functions, so a seed gives the same pixels everywhere.

May import: the layers below (base, data, nets, store, interop, quality); not training, serving or UI code.
"""
