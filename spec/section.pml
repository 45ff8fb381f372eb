/*
 * section.pml: the ipcscope section protocol (format version 1 with amendments 1 and 2) as a
 * Promela model for SPIN. One model: scenarios and mutants are -D macros. spec/README.md says what is modelled and what is abstracted, maps
 * every step to the C and the Swift function that does it, and lists the properties;
 * spec/check.sh runs them all.
 *
 * Memory is sequentially consistent here: a statement is one load, one store or one
 * read-modify-write of a shared word, as the format's handshakes (seq_cst) have them. Where
 * two or more accesses share one atomic{} they touch words nobody else reads or writes at that
 * moment (see the README, "Abstractions").
 */

/* MARK: - scenario switches (0 or 1; spec/check.sh sets them per check) */

#ifndef NCLIENTS
#define NCLIENTS 2          /* client processes: 2, or 3 (bitstate) */
#endif
#ifndef CALLS
#define CALLS 1             /* calls each client makes */
#endif
#ifndef CLIENT_DEATHS
#define CLIENT_DEATHS 1     /* a client may be SIGKILLed at any step (one per run) */
#endif
#ifndef SERVER_DEATHS
#define SERVER_DEATHS 1     /* the server may be SIGKILLed at any step (one per run) */
#endif
#ifndef TAKEOVER
#define TAKEOVER 1          /* after its death a new server may take the section over */
#endif
#ifndef GIVE_UPS
#define GIVE_UPS 1          /* a call's deadline may pass, or the call be cancelled, at any moment (one per run) */
#endif
#ifndef CLIENT_SLICES
#define CLIENT_SLICES 1     /* a client's FUTEX_WAIT may end after its 100 ms slice */
#endif
#ifndef SERVER_SLICES
#define SERVER_SLICES 1     /* the server's FUTEX_WAIT may end after its 1 s slice */
#endif
/* The default is the code: the Swift framework (IPCScopeKit) and the C library (Sources/MBVIPC)
 * take the same steps. MUT_* are the mutants (README, "Mutants"); MUT_EPOCH_BEFORE_IDLE,
 * MUT_STEP3_OLD_EPOCH, MUT_NO_RECOVERY_WAKE and MUT_NO_WAITING_RESET are the code as it was
 * before the fixes of the model's findings (README, "Findings"). */

/* MARK: - constants */

#define IDLE 0
#define REQUEST_READY 1
#define PROCESSING 2
#define RESPONSE_READY 3

#define FREE 0
#define SRV (NCLIENTS + 1)  /* the server as mutex owner (the takeover's trylock) */

#define R_NONE 0
#define R_OK 1
#define R_GAVE_UP 2         /* timeout or cancelled: the same to the section */
#define R_GONE 3            /* server gone: "died" (probe) or "restarted" (epoch) */
#define R_NOT_RECOVERABLE 4

/* MARK: - the section: header line 4, the slots' seqs and payloads, the mutex, the server line */

byte state = IDLE;
byte request_event = 0;     /* futex word */
byte response_event = 0;    /* futex word */
byte server_waiting = 0;
byte client_waiting = 0;
byte next_seq = 0;
byte req_seq = 0;           /* request slot: seq (written last) */
byte req_data = 0;          /* request slot: the payload; a call's id stands for its bytes */
byte rsp_seq = 0;           /* response slot: seq (written last) */
byte rsp_data = 0;          /* response slot: the payload; the call id it was computed from */
byte server_epoch = 1;
bool live = true;           /* the liveness lock (F_OFD_SETLK, F_WRLCK on byte 0) is held */
byte recovered_count = 0;

/* The robust process-shared mutex: its owner, and the kernel's FUTEX_OWNER_DIED. */
byte mtx = FREE;            /* FREE, client i + 1, or SRV */
bool mtx_owner_died = false;   /* the next locker gets EOWNERDEAD */
bool mtx_inconsistent = false; /* EOWNERDEAD handed out, pthread_mutex_consistent not called yet */
bool mtx_unrecoverable = false;/* unlocked while inconsistent: ENOTRECOVERABLE for ever */

/* FUTEX_WAIT sleepers. A wake clears them all: the client wakes "1" server but one server thread
 * waits; the server and a takeover wake all clients, and only the mutex holder waits anyway. */
bool srv_asleep = false;
bool cli_asleep[NCLIENTS];

/* MARK: - the environment's events (each once per run at most) */

bool kill_srv = false;
bool kill_cli[NCLIENTS];
bool gave_up[NCLIENTS];     /* this call's deadline passed, or it was cancelled */
byte server_deaths = 0, client_deaths = 0, give_ups = 0;

/* MARK: - ghosts, read by the properties only */

bool in_call[NCLIENTS];     /* from the call's start to its return (or the client's death) */
bool lock_wait[NCLIENTS];   /* blocked in the mutex lock */
bool answered[NCLIENTS];    /* the server published this client's answer (RESPONSE_READY) */
bool returned_ok[NCLIENTS]; /* its last call returned an answer */
bool s3_moved[NCLIENTS];    /* the call's step-3 wait ended under a newer server (epoch changed) */
byte seq_call[NCLIENTS * CALLS + 1];  /* seq -> the id of the call that took it */
/* The ghosts only some formulas read are kept only when those are compiled in: each one
 * distinguishes states, and the searches are smaller without them. */
#if !defined(SELECT_CLAIMS) || defined(WANT_client_wakes)
#define MARK_ANSWERED(i) answered[i] = true
#else
#define MARK_ANSWERED(i) skip
#endif
#if !defined(SELECT_CLAIMS) || defined(WANT_step3_takeover_answered)
#define MARK_S3_MOVED s3_moved[me] = true
#define MARK_RETURNED(ok) returned_ok[me] = ok
#else
#define MARK_S3_MOVED skip
#define MARK_RETURNED(ok) skip
#endif
/* Set where a safety property is broken; the ltl formulas below say []!bad_... */
bool bad_seq = false;       /* seq_rule */
bool bad_answer = false;    /* own_answer */
bool bad_torn = false;      /* untorn_request */
bool bad_mutex = false;     /* mutex_repaired */
bool bad_waiting = false;   /* waiting_exact */
bool bad_takeover = false;  /* takeover_clean */

/* MARK: - the client */

#define WAKE_CLIENTS() d_step { cli_asleep[0] = false; cli_asleep[1] = false; WAKE_THIRD }
#if NCLIENTS > 2
#define WAKE_THIRD cli_asleep[2] = false
#else
#define WAKE_THIRD skip
#endif

/* check_server / checkServer: "restarted" when the epoch moved, "died" when the probe (an
 * F_OFD_GETLK, done when the heartbeat is old or after a slice that timed out) finds no lock. */
#define CHECK_SERVER(epoch, probe) \
    if \
    :: server_epoch != epoch -> r = R_GONE \
    :: server_epoch == epoch && probe && !live -> r = R_GONE \
    :: else -> skip \
    fi

/* is_done: what 0 = the slot is free (IDLE or RESPONSE_READY), 1 = the answer to seq is there:
 * state (seq_cst load), then the response slot's seq (acquire load). */
#define IS_DONE(what) \
    if \
    :: what == 0 -> done = (state == IDLE || state == RESPONSE_READY) \
    :: what == 1 -> \
        if \
        :: state == RESPONSE_READY -> SEQ_CHECK \
        :: else -> done = false \
        fi \
    fi

#ifdef MUT_NO_SEQ_CHECK
#define SEQ_CHECK done = true                    /* mutant: RESPONSE_READY alone is taken as the answer */
#else
#define SEQ_CHECK done = (rsp_seq == seq)
#endif

#ifdef MUT_NO_CLIENT_RECHECK
#define CLIENT_RECHECK(what) done = false        /* mutant: sleeps without re-checking */
#else
#define CLIENT_RECHECK(what) IS_DONE(what)
#endif

#define CW_DEC atomic { if :: client_waiting == 0 -> bad_waiting = true :: else -> client_waiting-- fi }

/* client_wait / Client.wait: the spin (one check stands for the bounded spin), then in a loop:
 * read response_event, client_waiting + 1 (seq_cst), re-check; server alive? given up?;
 * FUTEX_WAIT on the value read, client_waiting - 1; after a slice that timed out, probe. */
#define CLIENT_WAIT(what) \
    IS_DONE(what); \
    probe = false; \
    do \
    :: done -> break \
    :: else -> \
        seen = response_event; \
        client_waiting++; \
        CLIENT_RECHECK(what); \
        if \
        :: done -> CW_DEC; break \
        :: else -> skip \
        fi; \
        atomic { \
            CHECK_SERVER(epoch, probe); \
            if :: r == R_NONE && gave_up[me] -> r = R_GAVE_UP :: else -> skip fi \
        }; \
        if :: r != R_NONE -> CW_DEC; break :: else -> skip fi; \
        atomic { if :: response_event == seen -> cli_asleep[me] = true :: else -> skip fi }; \
        if \
        :: atomic { !cli_asleep[me] -> timedout = false } \
        :: atomic { cli_asleep[me] && (CLIENT_SLICES && !live || gave_up[me]) -> cli_asleep[me] = false; timedout = true } \
        fi; \
        CW_DEC; \
        probe = timedout; \
        seen = 0; \
        IS_DONE(what) \
    od

proctype Client(byte me) {
    byte k = 0, seq = 0, epoch = 0, seen = 0, call_id = 0, r = R_NONE;
    bool done = false, probe = false, timedout = false, owner_died = false;

    {
    do
    :: k < CALLS ->
        k++;
        d_step { call_id = me * CALLS + k; in_call[me] = true; gave_up[me] = false; returned_ok[me] = false;
                 answered[me] = false; s3_moved[me] = false; r = R_NONE; done = false; lock_wait[me] = true }

        /* 2. Lock the mutex by the deadline (trylock, then clocklock in slices when a
         *    cancellation token is given); on EOWNERDEAD: consistent, recovered_count + 1. */
step2_lock:
        if
        :: atomic { mtx == FREE && !mtx_unrecoverable ->
                    mtx = me + 1; owner_died = mtx_owner_died; mtx_owner_died = false;
                    mtx_inconsistent = owner_died; lock_wait[me] = false }
        :: atomic { mtx_unrecoverable -> r = R_NOT_RECOVERABLE; lock_wait[me] = false }
        :: atomic { mtx != FREE && gave_up[me] -> r = R_GAVE_UP; lock_wait[me] = false }
        fi;
        if
        :: r != R_NONE -> goto returned
        :: else -> skip
        fi;
step2_repair:
        atomic {
            if
            :: owner_died ->
#ifndef MUT_NO_CONSISTENT
                mtx_inconsistent = false;              /* pthread_mutex_consistent */
#endif
                recovered_count++;
#ifndef MUT_NO_WAITING_RESET
                client_waiting = 0;                    /* amendment 2.4: only the dead owner can be counted */
#endif
#ifndef MUT_NO_RECOVERY_WAKE
                /* the dead owner may have published and died before its wake: signal the server */
                if :: state == REQUEST_READY -> request_event++; srv_asleep = false :: else -> skip fi;
#endif
                owner_died = false
            :: else -> skip
            fi;
            /* property waiting_exact: nobody but the holder waits on response_event. */
            if :: client_waiting != 0 -> bad_waiting = true :: else -> skip fi
        };

        /* The server this call is made to; the liveness probe runs when the heartbeat is old. */
call_epoch:
        atomic {
            epoch = server_epoch;
            if :: probe = true :: probe = false fi;
            CHECK_SERVER(epoch, probe);
            probe = false
        };
        if :: r != R_NONE -> goto unlock :: else -> skip fi;

        /* 3. Wait until the slot is free: a call abandoned by a dead or given-up client may
         *    still be in the server's hands. */
#ifndef MUT_NO_STEP3
step3_slot_free:
        CLIENT_WAIT(0);
        if :: r != R_NONE -> goto unlock :: else -> skip fi;
        atomic {
            if :: server_epoch != epoch -> MARK_S3_MOVED :: else -> skip fi;
#ifndef MUT_STEP3_OLD_EPOCH
            epoch = server_epoch;                      /* nothing sent yet: call the server that freed the slot */
#endif
            skip
        };
#endif

        /* 4. The request: data, then seq (release); REQUEST_READY; request_event + 1; wake the
         *    server only if it counts itself waiting. */
step4_request:
        req_data = call_id;
        d_step { next_seq++; seq = next_seq; seq_call[seq] = call_id; req_seq = seq };
step4_publish:
        state = REQUEST_READY;
        request_event++;
        if
        :: server_waiting != 0 -> srv_asleep = false  /* FUTEX_WAKE */
        :: else -> skip
        fi;

        /* 5. Wait for the answer to seq. */
step5_answer:
        CLIENT_WAIT(1);
        if :: r != R_NONE -> goto unlock :: else -> skip fi;

        /* 6. Copy the answer, then IDLE. */
step6_copy:
        atomic {
            if :: rsp_seq != seq -> bad_seq = true :: else -> skip fi;        /* property seq_rule */
            if :: rsp_data != call_id -> bad_answer = true :: else -> skip fi; /* property own_answer */
            r = R_OK
        };
        state = IDLE;

unlock: /* step 7. Whatever happened: clear the owner record, unlock; state is left as it is. */
        atomic {
            if :: mtx_inconsistent -> bad_mutex = true; mtx_unrecoverable = true :: else -> skip fi; /* property mutex_repaired */
            mtx = FREE;
            lock_wait[me] = false
        };
returned: skip;
        d_step { MARK_RETURNED(r == R_OK); in_call[me] = false; r = R_NONE; seq = 0; epoch = 0;
                 done = false; probe = false; timedout = false }
    :: else -> break
    od
    } unless {
        kill_cli[me] ->
        d_step {
            /* SIGKILL: the robust list marks a held mutex FUTEX_OWNER_DIED and frees it; a futex
             * wait ends; a count in client_waiting stays (leaked). */
            if :: mtx == me + 1 -> mtx = FREE; mtx_owner_died = true; mtx_inconsistent = false :: else -> skip fi;
            cli_asleep[me] = false; in_call[me] = false; lock_wait[me] = false; kill_cli[me] = false;
            k = 0; seq = 0; epoch = 0; seen = 0; call_id = 0; r = R_NONE;
            done = false; probe = false; timedout = false; owner_died = false
        }
    }
}

/* MARK: - the server */

#ifdef MUT_NO_SERVER_RECHECK
#define SERVER_RECHECK false                     /* mutant: sleeps without re-checking state */
#else
#define SERVER_RECHECK state == REQUEST_READY
#endif

active proctype Server() {
    byte incarnation = 0, seen = 0, s = 0, d = 0;
    bool got = false, owner_died = false;

start:
    {
        if
        :: incarnation == 0 -> skip              /* created: initialise() ran before any client */
        :: incarnation > 0 ->
            /* create_or_take_over / createOrTakeOver: the liveness lock can be taken (its holder
             * is dead); the mutex is repaired if a client died holding it (trylock: busy means a
             * live client holds it, and it will finish or give up). */
takeover:
            atomic {
                !live -> live = true;
                if
                :: mtx == FREE && !mtx_unrecoverable ->
                    mtx = SRV; owner_died = mtx_owner_died; mtx_owner_died = false;
                    mtx_inconsistent = owner_died; got = true
                :: else -> got = false
                fi;
                if
                :: got ->
                    if :: owner_died -> mtx_inconsistent = false; recovered_count++ :: else -> skip fi;
#ifndef MUT_NO_WAITING_RESET
                    client_waiting = 0;          /* we hold the mutex: any count is a leak */
#endif
                    if :: mtx_inconsistent -> bad_mutex = true; mtx_unrecoverable = true :: else -> skip fi;
                    mtx = FREE
                :: else -> skip
                fi;
                got = false; owner_died = false
            };
            /* start(): server_waiting 0, IDLE, epoch + 1, server_pid (last), then
             * response_event + 1 and a wake of every client (clarification 2). */
claim:
#ifdef MUT_EPOCH_BEFORE_IDLE
            d_step { server_waiting = 0; server_epoch++ };
            state = IDLE;                        /* mutant: a client that read the new epoch may have published */
#else
#ifndef MUT_TAKEOVER_KEEPS_STATE
            state = IDLE;                        /* before the new epoch is visible */
#endif
            d_step { server_waiting = 0; server_epoch++ };
#endif
            atomic {
                /* property takeover_clean: no stale PROCESSING or RESPONSE_READY (only this
                 * server, which serves nothing yet, could store them), no leaked server count. */
                if :: state == PROCESSING || state == RESPONSE_READY || server_waiting != 0 -> bad_takeover = true :: else -> skip fi
            };
wake_all:
            response_event++;
            WAKE_CLIENTS()
        fi;

        do
        :: /* wait_for_request / waitForRequest: the spin (one check), then sleep in slices. */
wait_request:
            do
            :: state == REQUEST_READY -> break
            :: else ->
                seen = request_event;
                server_waiting++;
                if
                :: SERVER_RECHECK -> server_waiting--; break
                :: else -> skip
                fi;
                atomic { if :: request_event == seen -> srv_asleep = true :: else -> skip fi };
end_sleep:      if
                :: atomic { !srv_asleep -> skip }
                :: atomic { srv_asleep && SERVER_SLICES && state == REQUEST_READY -> srv_asleep = false }
                fi;
                d_step { server_waiting--; seen = 0 }
            od;

            /* serve_one / serveOne: PROCESSING, read the slot (seq, then the payload), run the
             * handler; answer(): payload and seq, RESPONSE_READY, response_event + 1, wake only
             * if a client counts itself waiting. */
serve_one:
            state = PROCESSING;
            atomic {
                s = req_seq; d = req_data;
                if :: seq_call[s] != d -> bad_torn = true :: else -> skip fi /* property untorn_request */
            };
answer:
            d_step { rsp_data = d; rsp_seq = s; d = 0 };
            atomic { state = RESPONSE_READY; MARK_ANSWERED((seq_call[s] - 1) / CALLS); s = 0 };
            response_event++;
            if
            :: client_waiting != 0 -> WAKE_CLIENTS()
            :: else -> skip
            fi
        od
    } unless {
        kill_srv ->
        d_step {
            /* SIGKILL: the liveness lock goes, a held mutex is marked owner-died, a futex wait
             * ends, server_waiting keeps its count (the takeover resets it). */
            live = false; srv_asleep = false; kill_srv = false;
            if :: mtx == SRV -> mtx = FREE; mtx_owner_died = true; mtx_inconsistent = false :: else -> skip fi;
            seen = 0; s = 0; d = 0; got = false; owner_died = false
        }
    };
    incarnation++;
    if
    :: TAKEOVER -> goto start
    :: true -> skip                              /* nobody starts a new server */
    fi
}

/* MARK: - the environment */

/* Deaths and give-ups at any moment, each at most once per run: once spent, an option is
 * disabled, so weak fairness never forces one. */
active proctype Env() {
end:
    do
    :: SERVER_DEATHS && live && server_deaths == 0 -> atomic { kill_srv = true; server_deaths++ }
    :: CLIENT_DEATHS && client_deaths == 0 && in_call[0] -> atomic { kill_cli[0] = true; client_deaths++ }
    :: CLIENT_DEATHS && client_deaths == 0 && in_call[1] -> atomic { kill_cli[1] = true; client_deaths++ }
    :: GIVE_UPS && give_ups == 0 && in_call[0] -> atomic { gave_up[0] = true; give_ups++ }
    :: GIVE_UPS && give_ups == 0 && in_call[1] -> atomic { gave_up[1] = true; give_ups++ }
#if NCLIENTS > 2
    :: CLIENT_DEATHS && client_deaths == 0 && in_call[2] -> atomic { kill_cli[2] = true; client_deaths++ }
    :: GIVE_UPS && give_ups == 0 && in_call[2] -> atomic { gave_up[2] = true; give_ups++ }
#endif
    od
}

init {
    atomic {
        run Client(0);
        run Client(1);
#if NCLIENTS > 2
        run Client(2);
#endif
    }
}

/* MARK: - safety properties (pan -N name) */

/* check.sh compiles only the formulas a verifier runs: -DSELECT_CLAIMS -DWANT_name ... */

/* A client that returns an answer copied one whose response-slot seq is its own call's. */
#if !defined(SELECT_CLAIMS) || defined(WANT_seq_rule)
ltl seq_rule { [] !bad_seq }
#endif
/* ... and whose payload the server computed from this call's own request. */
#if !defined(SELECT_CLAIMS) || defined(WANT_own_answer)
ltl own_answer { [] !bad_answer }
#endif
/* The server runs a request whose payload belongs to the seq it read: the slot is never
 * rewritten while a request is in the server's hands. */
#if !defined(SELECT_CLAIMS) || defined(WANT_untorn_request)
ltl untorn_request { [] !bad_torn }
#endif
/* Every EOWNERDEAD is repaired (pthread_mutex_consistent) before the unlock: the mutex never
 * becomes ENOTRECOVERABLE. */
#if !defined(SELECT_CLAIMS) || defined(WANT_mutex_repaired)
ltl mutex_repaired { [] !bad_mutex }
#endif
/* When a client holds the (repaired) mutex, client_waiting is 0: a dead owner's leaked count is
 * reset (amendment 2.4), and no count ever underflows. */
#if !defined(SELECT_CLAIMS) || defined(WANT_waiting_exact)
ltl waiting_exact { [] !bad_waiting }
#endif
/* A takeover leaves no stale PROCESSING or RESPONSE_READY and no leaked server_waiting. */
#if !defined(SELECT_CLAIMS) || defined(WANT_takeover_clean)
ltl takeover_clean { [] !bad_takeover }
#endif
/* All six at once: check.sh checks the model as the code is with this one, per scenario, and
 * each mutant with the one property it must break. */
#if !defined(SELECT_CLAIMS) || defined(WANT_safety)
ltl safety { [] !(bad_seq || bad_answer || bad_torn || bad_mutex || bad_waiting || bad_takeover) }
#endif

/* MARK: - liveness properties (pan -a) */

/* Every call returns: no wedge and no deadlock, whatever dies (deaths on, slices on). */
#if NCLIENTS > 2
#define ALL_RETURN ([] (in_call[0] -> <> !in_call[0]) && [] (in_call[1] -> <> !in_call[1]) && [] (in_call[2] -> <> !in_call[2]))
#else
#define ALL_RETURN ([] (in_call[0] -> <> !in_call[0]) && [] (in_call[1] -> <> !in_call[1]))
#endif
#if !defined(SELECT_CLAIMS) || defined(WANT_calls_return)
ltl calls_return { ALL_RETURN }
#endif

/* No lost wake-up, server side: a published request is always picked up, without the 1 s slice
 * (deaths, give-ups and slices off). */
#if !defined(SELECT_CLAIMS) || defined(WANT_server_wakes)
ltl server_wakes { [] (state == REQUEST_READY -> <> (state == PROCESSING)) }
#endif

/* No lost wake-up, client side: a published answer always reaches its waiting client, without
 * the 100 ms slice (deaths, give-ups and slices off). */
#if !defined(SELECT_CLAIMS) || defined(WANT_client_wakes)
ltl client_wakes { [] (answered[0] -> <> !in_call[0]) && [] (answered[1] -> <> !in_call[1]) }
#endif

/* Deadlines hold: once a call has given up (deadline passed or cancelled) it returns, even with
 * no slices at all (so no wait outlives the deadline), whatever died. */
#if !defined(SELECT_CLAIMS) || defined(WANT_deadline_honoured)
ltl deadline_honoured { [] (gave_up[0] -> <> !in_call[0]) && [] (gave_up[1] -> <> !in_call[1]) }
#endif

/* A dead owner's mutex goes to the next client: one blocked in the lock when the owner died
 * gets it (then mutex_repaired and waiting_exact say it repaired the section). */
#if !defined(SELECT_CLAIMS) || defined(WANT_owner_death_recovered)
ltl owner_death_recovered { [] ((mtx_owner_died && lock_wait[0]) -> <> (mtx == 1))
                            && [] ((mtx_owner_died && lock_wait[1]) -> <> (mtx == 2)) }
#endif

/* Clarification 2's purpose: a call whose step-3 wait a takeover ended gets its answer from the
 * new server (no further death). */
#if !defined(SELECT_CLAIMS) || defined(WANT_step3_takeover_answered)
ltl step3_takeover_answered { [] (s3_moved[0] -> <> returned_ok[0])
                              && [] (s3_moved[1] -> <> returned_ok[1]) }
#endif
