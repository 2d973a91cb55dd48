"""Local fake of FBR's IMS invoice service (cloud PostData and the local fiscal
component), faithful to /work/shared/reference/fbr-ims.md §1 and §5.

    from simulators.fbr.server import start
    sim = start(port=0)          # sim.url == "http://127.0.0.1:PORT"
    ...
    sim.stop()
"""
