"""``umedsam <command>``: the umbrella over every umedsam command."""

from __future__ import annotations

from umedsam.cli.common import make_app

from umedsam.cli import (bench, compress, convert, demo, evaluate, export, finetune, native, optimize, parity, phantoms,
                         predict, qat, quantize)

app = make_app(no_args_is_help=True, help="Deployment toolchain for U-MedSAM / LiteMedSAM.")
app.command("predict")(predict.predict)
app.command("eval")(evaluate.evaluate)
app.command("export")(export.export)
app.command("quantize")(quantize.quantize)
app.command("qat")(qat.qat)
app.command("compress")(compress.compress)
app.command("finetune")(finetune.finetune)
app.command("parity")(parity.parity)
app.command("bench")(bench.bench)
app.command("optimize")(optimize.optimize)
app.command("phantoms")(phantoms.phantoms)
app.command("demo")(demo.demo)
app.command("convert")(convert.convert)
app.add_typer(native.app, name="native", help="Build and inspect the native (C ABI over OpenVINO) runtime.")

if __name__ == "__main__":
    app()
