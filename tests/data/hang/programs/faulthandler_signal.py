"""Registers faulthandler on SIGUSR1 (all threads), as a rank would, then waits in
all_reduce <- train_step <- main; with a second argument a "heartbeat" thread runs too."""

import faulthandler
import signal
import sys
import threading
import time

out = open(sys.argv[1], "w")  # noqa: SIM115 - kept open: the handler writes to it
faulthandler.register(signal.SIGUSR1, file=out, all_threads=True)


def heartbeat():
    while True:
        time.sleep(600)


def all_reduce():
    time.sleep(600)


def train_step():
    all_reduce()


def main():
    if len(sys.argv) > 2:
        threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
    print("ready", flush=True)
    train_step()


if __name__ == "__main__":
    main()
