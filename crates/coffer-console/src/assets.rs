//! The console's stylesheet and script, compiled into the binary.

use http::{Response, StatusCode};
use s3s::Body;

use crate::web;

pub fn serve(name: &str) -> Response<Body> {
    match name {
        "console.css" => web::asset(
            "text/css; charset=utf-8",
            include_str!("../assets/console.css"),
        ),
        "console.js" => web::asset(
            "text/javascript; charset=utf-8",
            include_str!("../assets/console.js"),
        ),
        _ => web::text(StatusCode::NOT_FOUND, "No such file."),
    }
}
