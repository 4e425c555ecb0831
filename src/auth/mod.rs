//! Authentication and authorization with Mosquitto's file formats: password file, ACL file
//! and `mosquitto.conf`. The broker calls these from its connection tasks; nothing here
//! does network IO.

#![forbid(unsafe_code)]

pub mod acl;
pub mod password_file;
