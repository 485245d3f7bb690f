"""``deconvlab app``: the page served on loopback, driven through its HTTP API (Gradio's client) and, when Chromium
and Playwright are installed, in a real browser that paints a stroke. Skipped without the ``app`` extra."""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

import deconvlab

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    # The server's output goes to a file: a pipe nobody reads fills up and then blocks the server mid-request.
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "deconvlab", "app", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"the app did not start: {log_path.read_text()}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _photo_and_mask(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128] / 96
    photo = np.clip(0.5 + 0.3 * np.sin(7 * yy)[:, :, None] * np.cos(5 * xx)[:, :, None]
                    + 0.05 * rng.random((96, 128, 3)), 0, 1)
    photo8 = np.round(photo * 255).astype(np.uint8)
    mask = np.zeros((96, 128), dtype=bool)
    mask[30:50, 40:80] = True
    Image.fromarray(photo8).save(tmp_path / "photo.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    return photo8, mask


def test_the_app_binds_loopback_and_fills_like_inpaint(server, tmp_path):
    assert server.startswith("http://127.0.0.1:")
    photo8, mask = _photo_and_mask(tmp_path)
    client = gradio_client.Client(server, verbose=False)
    out = client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")),
                         gradio_client.handle_file(str(tmp_path / "mask.png")), "network", api_name="/fill_with_mask")
    got = np.asarray(Image.open(out).convert("RGB"))
    expected = np.round(deconvlab.inpaint(photo8.astype(np.float32) / 255, mask) * 255).astype(np.uint8)
    assert np.abs(got.astype(int) - expected).max() <= 1  # the PNG round trip
    assert np.array_equal(got[~mask], photo8[~mask])


def test_a_mistake_is_a_message_and_the_server_keeps_serving(server, tmp_path):
    _photo_and_mask(tmp_path)
    client = gradio_client.Client(server, verbose=False)
    with pytest.raises(Exception, match="Paint the holes"):
        client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")), None, "network",
                       api_name="/fill_with_mask")
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(Exception, match="must be the same size"):
        client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")),
                       gradio_client.handle_file(str(tmp_path / "small.png")), "harmonic", api_name="/fill_with_mask")
    out = client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")),
                         gradio_client.handle_file(str(tmp_path / "mask.png")), "harmonic", api_name="/fill_with_mask")
    assert os.path.exists(out)


def _vae_checkpoint(path):
    from deconvlab import checkpoints, train

    cfg = train.TrainConfig(model="vae", width=4)
    net = train.build_model(cfg)
    draw = np.random.default_rng(1)
    for layer in (net.out, net.inject, net.prior_head):  # an untrained VAE returns its start: give it a say
        layer.weight.data[...] = (draw.standard_normal(layer.weight.shape) * 0.3).astype(np.float32)
    checkpoints.save_weights(path, net, cfg)
    return net


def test_a_vae_checkpoint_draws_several_fills_side_by_side(server, tmp_path):
    photo8, mask = _photo_and_mask(tmp_path)
    net = _vae_checkpoint(tmp_path / "vae.npz")
    client = gradio_client.Client(server, verbose=False)
    out = client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")),
                         gradio_client.handle_file(str(tmp_path / "mask.png")),
                         gradio_client.handle_file(str(tmp_path / "vae.npz")), 3, 5, api_name="/samples_with_mask")
    got = [np.asarray(Image.open(item["image"] if isinstance(item, dict) and "image" in item else item).convert("RGB"))
           for item in out]
    expected = deconvlab.inpaint(photo8.astype(np.float32) / 255, mask, model=net, samples=3, seed=5)
    assert len(got) == 3
    for image, want in zip(got, expected):
        assert np.abs(image.astype(int) - np.round(want * 255)).max() <= 1
    assert np.abs(got[0].astype(int) - got[1]).max() > 0  # different fills
    from deconvlab import app

    with pytest.raises(app.AppInputError, match="need a checkpoint of a network that samples"):
        cfg_path = tmp_path / "plain.npz"
        from deconvlab import checkpoints, train

        checkpoints.save_weights(cfg_path, train.build_model(train.TrainConfig(width=4)), train.TrainConfig(width=4))
        app.fill_samples(photo8, mask, str(cfg_path), 2)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
def test_a_real_browser_paints_a_stroke_and_gets_it_filled(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    photo8, _ = _photo_and_mask(tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.wait_for_load_state("networkidle")
        placeholder = page.locator("#editor").get_by_text("Upload an image")
        for attempt in range(3):  # a file given before the page's scripts attach to the input is dropped: retry
            page.locator("#editor input[type=file]").first.set_input_files(str(tmp_path / "photo.png"))
            try:
                placeholder.wait_for(state="hidden", timeout=20000)
                break
            except playwright.TimeoutError:
                assert attempt < 2, "the editor never showed the uploaded photo"
        canvas = page.locator("#editor canvas").first
        canvas.wait_for(timeout=60000)
        page.wait_for_timeout(2000)  # the editor draws the uploaded photo
        box = canvas.bounding_box()
        y = box["y"] + box["height"] * 0.5
        page.mouse.move(box["x"] + box["width"] * 0.45, y)  # the photo sits in the middle of the canvas
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(box["x"] + box["width"] * (0.45 + 0.01 * k), y)
        page.mouse.up()
        page.wait_for_timeout(500)
        page.locator("#fill").click()
        page.get_by_text("Filled").first.wait_for(timeout=120000)
        page.locator("#result img").first.wait_for(timeout=60000)
        src = page.locator("#result img").first.get_attribute("src")
        data = page.request.get(src if src.startswith("http") else server.rstrip("/") + src).body()
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        browser.close()
    (tmp_path / "result.png").write_bytes(data)
    result = np.asarray(Image.open(tmp_path / "result.png").convert("RGB")).astype(int)
    assert result.shape == photo8.shape
    changed = np.abs(result - photo8).max(axis=2) > 0
    rows, cols = np.nonzero(changed)
    print(f"changed pixels: {changed.sum()}, rows {rows.min()}-{rows.max()}, cols {cols.min()}-{cols.max()}")
    h, w = changed.shape
    assert changed[h // 2 - 2:h // 2 + 3, w // 2 - 2:w // 2 + 3].all()  # inside the stroke the fill changed it
    assert not changed[:12].any() and not changed[h - 12:].any()  # far above and below it nothing changed
    assert not changed[:, :12].any() and not changed[:, w - 12:].any()  # nor beside it


def test_the_bundled_vae_fills_once_and_draws_several(tmp_path):
    from deconvlab import app, inpainting

    photo8, mask = _photo_and_mask(tmp_path)
    once, _ = app.fill(photo8, mask, "vae")
    vae = inpainting.load_pretrained("vae")
    expected = deconvlab.inpaint(photo8.astype(np.float32) / 255, mask, model=vae)
    assert np.abs(once.astype(int) - np.round(expected * 255)).max() <= 1
    several, _ = app.fill_samples(photo8, mask, None, 3, seed=2)
    assert several.shape == (3, 96, 128, 3) and np.abs(several[0].astype(int) - several[1]).max() > 0
    assert np.array_equal(several[0][~mask], photo8[~mask])


def test_the_bundled_inpaintnet_fills_like_inpaint_with_it(tmp_path):
    from deconvlab import app, inpainting

    photo8, mask = _photo_and_mask(tmp_path)
    filled, _ = app.fill(photo8, mask, "inpaintnet")
    expected = deconvlab.inpaint(photo8.astype(np.float32) / 255, mask, model=inpainting.load_pretrained("inpaintnet"))
    assert np.abs(filled.astype(int) - np.round(expected * 255)).max() <= 1
    default, _ = app.fill(photo8, mask, "network")
    assert np.abs(default.astype(int) - filled).max() > 0  # not the default network


def test_the_network_adapted_to_the_photo_fills_like_inpaint_with_adapt(tmp_path):
    from deconvlab import app

    photo8, mask = _photo_and_mask(tmp_path)
    adapted, _ = app.fill(photo8, mask, "network", adapt=2)
    expected = deconvlab.inpaint(photo8.astype(np.float32) / 255, mask, adapt=2)
    assert np.abs(adapted.astype(int) - np.round(expected * 255)).max() <= 1
    assert np.array_equal(adapted[~mask], photo8[~mask])
    plain, _ = app.fill(photo8, mask, "network")
    assert np.abs(plain.astype(int) - adapted).max() > 0
    harmonic, _ = app.fill(photo8, mask, "harmonic", adapt=2)  # a classical fill has nothing to adapt
    assert np.array_equal(harmonic, app.fill(photo8, mask, "harmonic")[0])
