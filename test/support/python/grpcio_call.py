"""One unary call with Python's grpcio (the gRPC C core), an independent
client: reads the request as bytes on stdin, prints the response as hex, or
`error <CODE> <details>` and exits 1. Run with /usr/bin/python3 (Debian's
python3-grpcio).

usage: grpcio_call.py <host:port> <method path> <server name> <ca> [<cert> <key>] [--metadata k=v ...]
Without cert and key the channel has no client certificate.
"""
import sys

import grpc


def main() -> int:
    args = sys.argv[1:]
    metadata = []
    while "--metadata" in args:
        at = args.index("--metadata")
        name, _, value = args[at + 1].partition("=")
        metadata.append((name, value))
        del args[at : at + 2]
    target, path, server_name, ca = args[0:4]
    cert = key = None
    if len(args) > 5:
        cert = open(args[4], "rb").read()
        key = open(args[5], "rb").read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=open(ca, "rb").read(), private_key=key, certificate_chain=cert
    )
    # The certificate's DNS SAN: grpcio checks a host name, not a SPIFFE id.
    options = [("grpc.ssl_target_name_override", server_name)]
    with grpc.secure_channel(target, credentials, options) as channel:
        call = channel.unary_unary(path)
        try:
            response = call(sys.stdin.buffer.read(), timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            print("error", err.code().name, err.details())
            return 1
    print(response.hex())
    return 0


if __name__ == "__main__":
    sys.exit(main())
