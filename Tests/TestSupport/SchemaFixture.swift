// A schema with every type the schema language knows, and the C that lays it out, shared by the
// schema, inspector and end-to-end tests.
public enum SchemaFixture {
    /// Every type the schema knows, once, as C lays it out.
    public static let schema = """
        types:
          Point:
            - x: f32
            - y: f64
          Tagged:
            - tag: u8
            - after: {type: u32, offset: 8}
          Packed:
            packed: true
            fields:
              - a: u8
              - b: u32
              - c: u16
          Mode:
            type: u8
            enum: {0: off, 1: on, 2: auto}
        functions:
          7:
            name: everything
            request: &all
              - u8: u8
              - i8: i8
              - u16: u16
              - i16: i16
              - u32: uint32_t
              - i32: int32_t
              - u64: u64
              - i64: i64
              - f32: f32
              - f64: double
              - ok: bool
              - name: char[16]
              - samples: i16[3]
              - where: Point
              - pts: Point[2]
              - mode: Mode
              - flags: {type: u16, flags: {0: ready, 1: busy, 15: error}}
              - packed: Packed
              - be32: {type: u32, endian: big}
              - tagged: Tagged
              - padding: 3
              - blob: {type: bytes, length: u16, capacity: 8}
              - names: char[2][8]
              - data: bytes
            response: *all
            status: {0: ok, -2: no such id}
          3:
            name: set_value
            request:
              - id: u32
              - value: f64
              - name: char[16]
            response:
              - ok: bool
              - previous: f64

        """

    /// The same structs in C, filled with the same values, printed as hex.
    public static let cSource = """
        #include <stdint.h>
        #include <stdbool.h>
        #include <stdio.h>
        #include <string.h>
        #include <stddef.h>
        typedef struct { float x; double y; } Point;
        typedef struct { uint8_t tag; uint8_t reserved[7]; uint32_t after; } Tagged;
        struct __attribute__((packed)) Packed { uint8_t a; uint32_t b; uint16_t c; };
        typedef struct {
            uint8_t u8; int8_t i8; uint16_t u16; int16_t i16;
            uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
            float f32; double f64; bool ok; char name[16]; int16_t samples[3];
            Point where; Point pts[2]; uint8_t mode; uint16_t flags; struct Packed packed;
            uint32_t be32; Tagged tagged; uint8_t reserved2[3];
            uint16_t blen; uint8_t bdata[8]; char names[2][8];
            uint32_t len; uint8_t data[];
        } Req;
        static unsigned char buf[sizeof(Req) + 64] __attribute__((aligned(16)));
        int main(void) {
            Req *r = (Req *)buf;
            memset(buf, 0, sizeof buf);
            r->u8 = 255; r->i8 = -128; r->u16 = 65535; r->i16 = -32768;
            r->u32 = 4294967295u; r->i32 = -2147483647 - 1; r->u64 = 18446744073709551615ull; r->i64 = -9223372036854775807ll - 1;
            r->f32 = 1.5f; r->f64 = -2.25e10; r->ok = true; strcpy(r->name, "pump");
            r->samples[0] = 1; r->samples[1] = -2; r->samples[2] = 300;
            r->where.x = 0.25f; r->where.y = -1.125;
            r->pts[0].x = 1; r->pts[0].y = 2; r->pts[1].x = 3; r->pts[1].y = 4.5;
            r->mode = 2; r->flags = 0x8003;
            r->packed.a = 0xab; r->packed.b = 0x01020304; r->packed.c = 0x0506;
            r->be32 = __builtin_bswap32(0x11223344u);
            r->tagged.tag = 7; r->tagged.after = 99;
            r->blen = 3; r->bdata[0] = 0xde; r->bdata[1] = 0xad; r->bdata[2] = 0xbe;
            strcpy(r->names[0], "ab"); strcpy(r->names[1], "cd");
            r->len = 4; r->data[0] = 1; r->data[1] = 2; r->data[2] = 3; r->data[3] = 4;
            size_t n = offsetof(Req, data) + 4;
            for (size_t i = 0; i < n; i++) printf("%02x", buf[i]);
            printf("\\n");
            return 0;
        }

        """

    public static let fields = [
        "u8=255", "i8=-128", "u16=65535", "i16=-32768", "u32=4294967295", "i32=-2147483648",
        "u64=18446744073709551615", "i64=-9223372036854775808", "f32=1.5", "f64=-2.25e10", "ok=true",
        "name=pump", "samples=1,-2,300", "where.x=0.25", "where.y=-1.125", "pts[0].x=1", "pts[0].y=2",
        "pts[1].x=3", "pts[1].y=4.5", "mode=auto", "flags=ready|busy|error", "packed.a=0xab",
        "packed.b=0x01020304", "packed.c=0x0506", "be32=0x11223344", "tagged.tag=7", "tagged.after=99",
        "blob=de ad be", "names[0]=ab", "names[1]=cd", "data=01020304",
    ]

    /// The decoded fields as `call --json` renders them.
    public static let fieldsJSON = #"{"u8":255,"i8":-128,"u16":65535,"i16":-32768,"u32":4294967295,"i32":-2147483648,"#
        + #""u64":18446744073709551615,"i64":-9223372036854775808,"f32":1.5,"f64":-22500000000.0,"ok":true,"#
        + #""name":"pump","samples":[1,-2,300],"where":{"x":0.25,"y":-1.125},"pts":[{"x":1.0,"y":2.0},{"x":3.0,"y":4.5}],"#
        + #""mode":"auto","flags":{"value":32771,"set":["ready","busy","error"]},"packed":{"a":171,"b":16909060,"c":1286},"#
        + #""be32":287454020,"tagged":{"tag":7,"after":99},"blob":"deadbe","names":["ab","cd"],"data":"01020304"}"#

    public static func fieldsObject(_ stdout: String) -> String? {
        guard let r = stdout.range(of: #""fields":"#) else { return nil }
        var depth = 0
        var out = ""
        for c in stdout[r.upperBound...] {
            out.append(c)
            if c == "{" { depth += 1 }
            if c == "}" { depth -= 1; if depth == 0 { return out } }
        }
        return nil
    }
}
