//! The medgym.v1 wire contract: message types, the `Environment` client and server, and the
//! encoded file descriptor set for gRPC reflection. Generated from `proto/` at build time.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

/// Package `medgym.v1`.
pub mod v1 {
    tonic::include_proto!("medgym.v1");
}

/// Encoded `FileDescriptorSet` of `proto/medgym/v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/medgym_descriptor.bin"));
