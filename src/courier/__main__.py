from courier.cli import app

app(prog_name="courier")
