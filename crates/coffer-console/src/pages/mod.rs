//! One module per page of the console; each reads through the user's APIs and renders one
//! template.

pub mod audit;
pub mod buckets;
pub mod cost;
pub mod health;
pub mod keys;
pub mod objects;
pub mod sign_in;
pub mod transfer;

use askama::Template;
use http::{Response, StatusCode};
use s3s::Body;

use crate::Ctx;
use crate::api::ApiError;
use crate::web;

/// What every signed-in page shows around its content.
pub struct Frame {
    pub user: String,
    pub csrf: String,
    /// Which navigation entry is this page's.
    pub active: &'static str,
}

impl Frame {
    pub fn of(ctx: &Ctx, active: &'static str) -> Self {
        Self {
            user: ctx.session.user_name.clone(),
            csrf: ctx.session.csrf.clone(),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    frame: Frame,
    title: &'a str,
    error: &'a ApiError,
}

/// A page the API refused: the API's status, code and message, as the CLI would show them.
pub fn api_error(ctx: &Ctx, active: &'static str, title: &str, error: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    render_status(
        status,
        &ErrorPage {
            frame: Frame::of(ctx, active),
            title,
            error,
        },
    )
}

pub fn not_found(ctx: &Ctx) -> Response<Body> {
    let error = ApiError {
        status: 404,
        code: "NotFound".into(),
        message: "The console has no such page.".into(),
    };
    api_error(ctx, "", "Not found", &error)
}

pub fn render(page: &impl Template) -> Response<Body> {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response<Body> {
    match page.render() {
        Ok(body) => web::html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            web::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page failed to render.",
            )
        }
    }
}
