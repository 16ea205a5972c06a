import numpy as np
import torch
from PIL import Image

from dcgan.images import grid_image, make_grid, save_gif, save_png, to_pil, to_uint8


def test_to_uint8_maps_the_range_exactly():
    images = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    assert to_uint8(images).reshape(-1).tolist() == [0, 128, 255, 255]


def test_grid_layout():
    images = torch.stack([torch.full((3, 4, 4), value) for value in (-1.0, 1.0, 0.0)])
    grid = make_grid(images, nrow=2, padding=1)
    assert grid.shape == (2 * 5 + 1, 2 * 5 + 1, 3)
    assert (grid[1:5, 1:5] == 0).all() and (grid[1:5, 6:10] == 255).all() and (grid[6:10, 1:5] == 128).all()
    assert (grid[6:10, 6:10] == 0).all()  # the empty fourth cell stays padding


def test_grayscale_pil_and_nearest_upscale():
    image = to_pil(make_grid(torch.rand(4, 1, 3, 3) * 2 - 1, padding=0), scale=4)
    assert image.mode == "L" and image.size == (24, 24)
    pixels = np.asarray(image)
    assert (pixels[:4, :4] == pixels[0, 0]).all()  # crisp blocks, no smoothing


def test_png_and_gif_carry_metadata(tmp_path):
    image = grid_image(torch.rand(4, 3, 8, 8) * 2 - 1)
    png = save_png(image, tmp_path / "grid.png", {"seed": "7", "model": "m"})
    assert Image.open(png).text == {"seed": "7", "model": "m"}
    gif = save_gif(
        [image, image.rotate(90), image.rotate(180)], tmp_path / "a.gif", metadata={"seeds": "1 2"}, bounce=True
    )
    opened = Image.open(gif)
    assert opened.n_frames == 4 and b"seeds=1 2" in opened.info["comment"]


def test_a_line_chart_draws_each_series_where_its_values_are():
    from dcgan.images import line_chart

    chart = line_chart([0.0, 1.0], {"low": [[1.0, 1.0]], "high": [[3.0, 3.0]]}, "two flat lines", size=(400, 200))
    assert chart.size == (400, 200) and chart.mode == "RGB"
    column = [chart.getpixel((200, y)) for y in range(200)]
    red, blue = (0xE4, 0x57, 0x2E), (0x2E, 0x86, 0xAB)
    assert red in column and blue in column
    assert column.index(blue) < column.index(red)  # the higher values are drawn higher up
