/*
 * shutdown_now.pml: Swift's Server.shutdownNow() against its own serving thread, a successor that
 * takes the section over (keepOnExit) and a client that calls the successor. A companion of
 * section.pml, which leaves shutdownNow out (spec/README.md, "Findings", 5). spec/check.sh runs it.
 *
 * The scene: client C0 holds the mutex and waits for the answer to its request (seq 1); the
 * serving thread T has seen that REQUEST_READY and is about to take it (Server.serveOne). Any
 * time from now, another thread calls shutdownNow() (S): stopping, abandoned, the lifecycle
 * lock, closed, a REQUEST_READY or PROCESSING answered -4, server_pid = 0, the liveness lock
 * released. A successor N takes the section over as soon as the lock is free (IDLE, epoch + 1,
 * its pid) and serves; client C1 calls: the mutex, the server check, step 3, the epoch again,
 * REQUEST_READY, the answer or "server gone".
 *
 * Waits are guards: a waiter proceeds as soon as what it waits for holds (every wake-up is
 * delivered; section.pml checks the wake-ups). Every client must return (Watch asserts it once
 * nothing can move; the search also reports any other invalid end state). The default is the code (claimRequest: a
 * compare-exchange from REQUEST_READY, and the request handed back after shutdownNow());
 * -DMUT_PLAIN_STORE is the code before the fix (a plain store of PROCESSING, no flag);
 * -DMUT_NO_HANDBACK keeps the compare-exchange but never hands a request back.
 */

#define IDLE 0
#define REQUEST_READY 1
#define PROCESSING 2
#define RESPONSE_READY 3

byte state = REQUEST_READY;
byte req_seq = 1;
byte next_seq = 1;
byte rsp_seq = 0;
byte epoch = 1;
byte server_pid = 1;
bool live = true;           /* the old server's liveness lock */
byte mtx = 1;               /* the client mutex: 0 free, 1 C0, 2 C1 */
bool stopping = false;
bool abandoned = false;
bool lifecycle = false;     /* the old server's lifecycle lock */
bool closed = false;
bool c0_returned = false, c1_returned = false;

/* T: the old server's serving thread, between waitForRequest (it saw C0's REQUEST_READY) and
 * serveOne. */
active proctype Serving() {
    byte s = 0;
    do
    :: /* claimRequest */
#ifdef MUT_PLAIN_STORE
        state = PROCESSING;
#else
        if
        :: atomic { state == REQUEST_READY -> state = PROCESSING }
        :: atomic { state != REQUEST_READY -> goto done }
        fi;
#ifndef MUT_NO_HANDBACK
        if
        :: abandoned ->
            atomic { if :: state == PROCESSING -> state = REQUEST_READY :: else -> skip fi };
            goto done
        :: else -> skip
        fi;
#endif
#endif
        s = req_seq;                              /* read the request; the handler runs */
        atomic { !lifecycle -> lifecycle = true };
        if
        :: !closed -> rsp_seq = s; state = RESPONSE_READY   /* answer */
        :: else -> skip                           /* after shutdownNow(): dropped */
        fi;
        lifecycle = false;
end_wait:                                         /* waitForRequest */
        if
        :: atomic { state == REQUEST_READY && !stopping -> skip }
        :: stopping -> goto done
        fi
    od;
done: skip
}

/* S: shutdownNow() from another thread, at any moment. */
active proctype ShutdownNow() {
    stopping = true;
#ifndef MUT_PLAIN_STORE
    abandoned = true;
#endif
    atomic { !lifecycle -> lifecycle = true };
    closed = true;
    /* release(abandoning: true) */
    if
    :: state == REQUEST_READY || state == PROCESSING -> rsp_seq = req_seq; state = RESPONSE_READY
    :: else -> skip
    fi;
    server_pid = 0;
    lifecycle = false;
    live = false
}

/* N: a successor: takes the section over once the liveness lock is free, then serves. */
active proctype Successor() {
    byte s = 0;
    !live;
    state = IDLE;
    epoch++;
    server_pid = 2;
end_serve:
    do
    :: atomic { state == REQUEST_READY -> state = PROCESSING };
        s = req_seq;
        rsp_seq = s; state = RESPONSE_READY
    od
}

/* C0: waits for the answer to seq 1 (or the server's end), then IDLE and unlock. */
active proctype C0() {
    if
    :: atomic { state == RESPONSE_READY && rsp_seq == 1 -> skip }; state = IDLE
    :: atomic { server_pid == 0 || epoch != 1 -> skip }
    fi;
    mtx = 0;
    c0_returned = true
}

/* C1: one call, as Client.call does it. */
active proctype C1() {
    byte e = 0, seq = 0;
    atomic { mtx == 0 -> mtx = 2 };
    e = epoch;
    if :: server_pid == 0 || epoch != e -> goto unlock :: else -> skip fi;
    if                                            /* step 3 */
    :: atomic { state == IDLE || state == RESPONSE_READY -> skip }
    :: atomic { server_pid == 0 || epoch != e -> goto unlock }
    fi;
    e = epoch;
    d_step { next_seq++; seq = next_seq; req_seq = seq };
    state = REQUEST_READY;
    if                                            /* step 5 */
    :: atomic { state == RESPONSE_READY && rsp_seq == seq -> skip }; state = IDLE
    :: atomic { server_pid == 0 || epoch != e -> skip }
    fi;
unlock:
    mtx = 0;
    c1_returned = true
}

/* Property clients_return: when nothing can move any more, both calls have returned (an answer
 * or "server gone"); a client left waiting for ever is an assertion violation. */
active proctype Watch() {
    timeout -> assert(c0_returned && c1_returned)
}
