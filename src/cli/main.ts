#!/usr/bin/env node
/** `simplehttp`: the command line (a drop-in for `python -m http.server`). */
process.stdout.write("usage: simplehttp [-h] [--cgi] [-b ADDRESS] [-d DIRECTORY] [-p VERSION] [port]\n");
