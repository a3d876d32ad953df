"""faulthandler.dump_traceback from a thread other than the main one: that thread is
listed first as "Current thread"; the main thread waits in join()."""

import faulthandler
import sys
import threading
import time


def dumper():
    with open(sys.argv[1], "w") as out:
        faulthandler.dump_traceback(file=out, all_threads=True)


def waiter():
    time.sleep(600)


def main():
    threading.Thread(target=waiter, name="waiter", daemon=True).start()
    dumping = threading.Thread(target=dumper, name="dumper")
    dumping.start()
    dumping.join()


main()
