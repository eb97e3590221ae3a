"""Hot reload under load: a client keeps tagging while the served index is rebuilt with
``rtag index --force``; no request fails and the answers switch to the new build."""

from __future__ import annotations

import shutil
import threading
import time

from cli_runner import FAST, ok
from live_server import running_server
from toy_catalog import COLUMNS, catalog_rows, write_catalog

SWITCH_TIMEOUT_S = 120


def test_rebuild_while_serving_loses_no_request(both_index, catalog_dir, tmp_path):
    folder = tmp_path / "shop"
    shutil.copytree(both_index, folder)
    renamed = [{**row, "colour": "crimson" if row["colour"] == "red" else row["colour"]} for row in catalog_rows()]
    new_catalog = write_catalog(catalog_dir.parent / f"renamed-{tmp_path.name}.csv", renamed, COLUMNS)
    shutil.copytree(catalog_dir / "images", new_catalog.parent / "images", dirs_exist_ok=True)
    statuses, seen_new, stop = [], threading.Event(), threading.Event()

    with running_server("--index", folder, "--reload-every", "0.2") as client:
        def keep_tagging():
            while not stop.is_set():
                response = client.post("/v1/indexes/shop/tag", json={"products": [{"id": "q", "title": "red silk dress"}]})
                statuses.append(response.status_code)
                if response.status_code == 200 and any(t["tag"] == "colour:crimson" for t in response.json()["results"][0]["tags"]):
                    seen_new.set()

        workers = [threading.Thread(target=keep_tagging) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            time.sleep(0.5)
            ok("index", new_catalog, "--name", folder, "--force", "--tags-col", "tags", "--facet-cols", "colour,article", *FAST)
            assert seen_new.wait(SWITCH_TIMEOUT_S), "the server kept answering from the old build"
            time.sleep(0.3)  # requests in flight across the swap
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=60)
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        assert client.get("/v1/indexes/shop").json()["reload_error"] is None
        metrics = client.get("/metrics").text
        assert 'rtag_index_reloads_total{index="shop"} 1.0' in metrics
