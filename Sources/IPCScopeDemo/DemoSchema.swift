/// The demo service's schema (docs/schemas.md), as shipped in demo/schemas/demo.yaml: what
/// `ipcscope demo` gives its inspector, prints with `--print-schema` and installs with
/// `--install-schema`. A test checks the file and this text are the same.
package let demoSchemaYAML = """
    # The demo service (ipcscope demo), as its C header would declare it:
    #
    #   enum demo_put_flags  { DEMO_PUT_IF_ABSENT = 1 << 0, DEMO_PUT_ADD = 1 << 1 };
    #   enum demo_put_result { DEMO_CREATED, DEMO_REPLACED, DEMO_ADDED, DEMO_KEPT };
    #
    #   struct demo_put_req { char key[16]; uint8_t flags; int64_t value; };       /* 32 bytes: 7 of padding after flags */
    #   struct demo_put_rsp { int64_t previous; uint32_t version; uint8_t result; }; /* 16 bytes: 3 of padding at the end */
    #   struct demo_get_req { char key[16]; };                                      /* 16 bytes */
    #   struct demo_get_rsp { int64_t value; uint32_t version; uint8_t last; };      /* 16 bytes: 3 of padding at the end */
    #
    # A refused put or get answers its status with no bytes. echo, slow and fail speak text:
    # a name is all they need.
    status:
      -1: bad request
      -2: handler failed
      -3: no handler for this function
      -4: server shutting down
    types:
      Result:
        type: u8
        enum: {0: created, 1: replaced, 2: added, 3: kept}
    functions:
      0: echo
      1:
        name: put
        request:
          - key: char[16]
          - flags: {type: u8, flags: {0: if_absent, 1: add}}
          - value: i64
        response:
          - previous: i64
          - version: u32
          - result: Result
        status:
          0: ok
          1: "malformed: not 32 bytes, an empty or unterminated key, or an unknown flag"
          3: "overflow: the sum does not fit int64_t"
      2:
        name: get
        request:
          - key: char[16]
        response:
          - value: i64
          - version: u32
          - last: Result
        status:
          0: ok
          1: "malformed: not 16 bytes, or an empty or unterminated key"
          2: no such key
      3: slow
      4:
        name: fail
        status:
          7: failed on purpose

    """
