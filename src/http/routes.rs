//! A listener's routes as one list: the same list registers them and names them, so a test can
//! hold what is registered against what the OpenAPI document lists (tests/api/openapi.rs).

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, Route};

/// The routes of one listener, in registration order.
#[derive(Default)]
pub struct RouteTable {
    routes: Vec<(&'static str, Method, Route)>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method path` served by `handler`.
    pub fn add<F, Args>(mut self, method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().method(method.clone()).to(handler);
        self.routes.push((path, method, route));
        self
    }

    /// Every `(method, path)`, in registration order.
    pub fn list(&self) -> Vec<(Method, &'static str)> {
        self.routes
            .iter()
            .map(|(path, method, _)| (method.clone(), *path))
            .collect()
    }

    /// Registers one resource per path. A method the path does not serve is answered by
    /// `not_allowed`, given the `Allow` value (RFC 9110 §15.5.6: a 405 must list the methods).
    /// Registers every route; a method a path does not have gets `not_allowed()`'s body with
    /// `Allow` listing the ones it has (RFC 9110 §15.5.6).
    pub fn register(self, cfg: &mut web::ServiceConfig, not_allowed: fn() -> HttpResponse) {
        let mut resources: Vec<(&'static str, Vec<Method>, Vec<Route>)> = Vec::new();
        for (path, method, route) in self.routes {
            match resources.iter_mut().find(|(p, _, _)| *p == path) {
                Some((_, methods, routes)) => {
                    methods.push(method);
                    routes.push(route);
                }
                None => resources.push((path, vec![method], vec![route])),
            }
        }
        for (path, methods, routes) in resources {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let resource = routes
                .into_iter()
                .fold(web::resource(path), |resource, route| resource.route(route));
            let allow = actix_web::http::header::HeaderValue::from_str(&allow).ok();
            cfg.service(resource.default_service(web::to(move || {
                let mut response = not_allowed();
                if let Some(allow) = allow.clone() {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::ALLOW, allow);
                }
                async move { response }
            })));
        }
    }
}
