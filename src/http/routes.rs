//! A listener's routes as one list: the same list registers them and names them, so a test can
//! hold what is registered against what the OpenAPI document lists (tests/api/openapi.rs).

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder, Route};

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

    /// Registers one resource per path; a method the path does not serve gets `not_allowed`.
    pub fn register<F, Args>(self, cfg: &mut web::ServiceConfig, not_allowed: F)
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let mut resources: Vec<(&'static str, Vec<Route>)> = Vec::new();
        for (path, _, route) in self.routes {
            match resources.iter_mut().find(|(p, _)| *p == path) {
                Some((_, routes)) => routes.push(route),
                None => resources.push((path, vec![route])),
            }
        }
        for (path, routes) in resources {
            let resource = routes
                .into_iter()
                .fold(web::resource(path), |resource, route| resource.route(route));
            cfg.service(resource.default_service(web::to(not_allowed.clone())));
        }
    }
}
