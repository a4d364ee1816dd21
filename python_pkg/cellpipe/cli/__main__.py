from cellpipe.cli.main import run

run()
