//! Routing of `[[trigger.http]]` routes the way Spin does it.
//!
//! A route is a path of literal segments and `:name` segments, optionally
//! ending in a `/...` wildcard. Among the routes that match a path, the best
//! is found by comparing segment by segment from the left: a literal beats a
//! `:name`, which beats the wildcard, and a route that ends exactly where the
//! path ends beats one whose wildcard matches nothing. Manifest order does
//! not matter, except that of two identical routes the later one wins. One
//! trailing slash is ignored on both routes and paths.

use anyhow::bail;

/// One routable entry.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route as written in the manifest.
    pub raw: String,
    /// The route with one trailing slash removed (Spin's "based" route with
    /// base `/`).
    pub based: String,
    /// The component that serves it.
    pub component: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The result of routing a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component to call.
    pub component: String,
    /// The route as written (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route without one trailing slash (`spin-matched-route`).
    pub based_route: String,
    /// The raw route without its trailing `/...` (`spin-component-route`).
    pub component_route: String,
    /// What the trailing wildcard matched (`spin-path-info`): empty, or a
    /// path starting with `/`.
    pub path_info: String,
    /// Values of `:name` segments (`spin-path-match-<name>`).
    pub params: Vec<(String, String)>,
}

/// All public routes of an app.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds a router from `(route, component)` pairs in manifest order.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Router> {
        let mut routes: Vec<Route> = Vec::new();
        for (raw, component) in entries {
            let route = parse_route(raw, component)?;
            // A later identical route replaces an earlier one, in its place.
            if let Some(existing) = routes.iter_mut().find(|r| r.raw == route.raw) {
                *existing = route;
            } else {
                routes.push(route);
            }
        }
        Ok(Router { routes })
    }

    /// The routes in the order they were declared.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the best route for `path` (the request path, without query).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let ends_with_slash = path.ends_with('/') && path.len() > 1;
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let path_segments: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.trim_start_matches('/').split('/').collect()
        };

        let mut best: Option<(&Route, Vec<u8>)> = None;
        for route in &self.routes {
            let Some(rank) = rank(route, &path_segments) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((_, best_rank)) => rank > *best_rank,
            };
            if better {
                best = Some((route, rank));
            }
        }
        let (route, _) = best?;

        let params = route
            .segments
            .iter()
            .zip(&path_segments)
            .filter_map(|(seg, value)| match seg {
                Segment::Param(name) => Some((name.clone(), (*value).to_string())),
                Segment::Literal(_) => None,
            })
            .collect();
        let path_info = if route.wildcard {
            let rest = path_segments[route.segments.len()..].join("/");
            match (rest.is_empty(), ends_with_slash || path == "/") {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        let component_route = route
            .raw
            .strip_suffix("/...")
            .or_else(|| route.raw.strip_suffix("/*"))
            .unwrap_or(&route.raw)
            .to_string();
        Some(RouteMatch {
            component: route.component.clone(),
            raw_route: route.raw.clone(),
            based_route: route.based.clone(),
            component_route,
            path_info,
            params,
        })
    }
}

/// Segment ranks, compared left to right: higher is more specific.
const RANK_WILDCARD: u8 = 1;
const RANK_PARAM: u8 = 2;
const RANK_LITERAL: u8 = 3;
const RANK_EXACT_END: u8 = 4;

fn rank(route: &Route, path: &[&str]) -> Option<Vec<u8>> {
    if path.len() < route.segments.len() {
        return None;
    }
    if path.len() > route.segments.len() && !route.wildcard {
        return None;
    }
    let mut ranks = Vec::with_capacity(route.segments.len() + 1);
    for (seg, value) in route.segments.iter().zip(path) {
        match seg {
            Segment::Literal(lit) if lit == value => ranks.push(RANK_LITERAL),
            Segment::Literal(_) => return None,
            Segment::Param(_) if !value.is_empty() => ranks.push(RANK_PARAM),
            Segment::Param(_) => return None,
        }
    }
    ranks.push(if route.wildcard {
        RANK_WILDCARD
    } else {
        RANK_EXACT_END
    });
    Some(ranks)
}

fn parse_route(raw: &str, component: &str) -> anyhow::Result<Route> {
    let absolute = if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("/{raw}")
    };
    let based = absolute
        .strip_suffix('/')
        .map(str::to_string)
        .unwrap_or_else(|| absolute.clone());
    let (prefix, wildcard) = if let Some(p) = based.strip_suffix("/...") {
        (p, true)
    } else if let Some(p) = based.strip_suffix("/*") {
        (p, true)
    } else if based == "..." {
        ("", true)
    } else {
        (based.as_str(), false)
    };
    let mut segments = Vec::new();
    if !prefix.is_empty() {
        for seg in prefix.trim_start_matches('/').split('/') {
            if seg == "..." || seg == "*" {
                bail!("route {raw:?}: a wildcard may only come last");
            }
            match seg.strip_prefix(':') {
                Some("") => bail!("route {raw:?}: ':' needs a name"),
                Some(name) => segments.push(Segment::Param(name.to_string())),
                None => segments.push(Segment::Literal(seg.to_string())),
            }
        }
    }
    Ok(Route {
        raw: raw.to_string(),
        based,
        component: component.to_string(),
        segments,
        wildcard,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn router(entries: &[(&str, &str)]) -> Router {
        Router::new(entries.iter().copied()).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn literal_beats_param_beats_wildcard_regardless_of_order() {
        let entries = [
            ("/users/...", "wild"),
            ("/users/:name", "param"),
            ("/users/me", "literal"),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
            let r = router(&order.map(|i| entries[i]));
            assert_eq!(component(&r, "/users/me").as_deref(), Some("literal"));
            assert_eq!(component(&r, "/users/bob").as_deref(), Some("param"));
            assert_eq!(component(&r, "/users/bob/x").as_deref(), Some("wild"));
            assert_eq!(component(&r, "/users").as_deref(), Some("wild"));
        }
    }

    #[test]
    fn leftmost_segment_decides_first() {
        let r = router(&[("/:a/b", "param-first"), ("/a/:b", "literal-first")]);
        assert_eq!(component(&r, "/a/b").as_deref(), Some("literal-first"));
    }

    #[test]
    fn exact_route_beats_empty_wildcard_and_longer_prefix_wins() {
        let r = router(&[("/...", "all"), ("/one", "one"), ("/one/two/...", "two")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        assert_eq!(component(&r, "/one/two/three").as_deref(), Some("two"));
        assert_eq!(component(&r, "/other").as_deref(), Some("all"));
        assert_eq!(component(&r, "/").as_deref(), Some("all"));
    }

    #[test]
    fn wildcard_matches_prefix_itself_but_not_longer_names() {
        let r = router(&[("/foo/...", "foo")]);
        assert!(component(&r, "/foo").is_some());
        assert!(component(&r, "/foo/x").is_some());
        assert!(component(&r, "/foobar").is_none());
        assert!(component(&r, "/").is_none());
    }

    #[test]
    fn trailing_slash_is_ignored() {
        let r = router(&[("/api/register", "register"), ("/api/login/", "login")]);
        assert_eq!(component(&r, "/api/register/").as_deref(), Some("register"));
        assert_eq!(component(&r, "/api/login").as_deref(), Some("login"));
        assert!(component(&r, "/api/register/x").is_none());
    }

    #[test]
    fn later_duplicate_route_wins() {
        let r = router(&[("/x", "first"), ("/x", "second")]);
        assert_eq!(component(&r, "/x").as_deref(), Some("second"));
        assert_eq!(r.routes().len(), 1);
    }

    #[test]
    fn match_reports_what_spin_puts_in_headers() {
        let r = router(&[("/foo/:userid/...", "c")]);
        let m = r.route("/foo/42/bar").unwrap();
        assert_eq!(m.path_info, "/bar");
        assert_eq!(m.raw_route, "/foo/:userid/...");
        assert_eq!(m.based_route, "/foo/:userid/...");
        assert_eq!(m.component_route, "/foo/:userid");
        assert_eq!(m.params, vec![("userid".to_string(), "42".to_string())]);
        assert_eq!(r.route("/foo/42").unwrap().path_info, "");
        assert_eq!(r.route("/foo/42/").unwrap().path_info, "/");
        assert_eq!(r.route("/foo/42/a/b/").unwrap().path_info, "/a/b/");
    }

    #[test]
    fn exact_route_has_empty_path_info() {
        let r = router(&[("/api/session", "login")]);
        let m = r.route("/api/session").unwrap();
        assert_eq!(m.path_info, "");
        assert_eq!(m.component_route, "/api/session");
    }

    #[test]
    fn no_match_is_none() {
        let r = router(&[("/api/register", "register")]);
        assert!(r.route("/api").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn bad_routes_are_rejected() {
        assert!(Router::new([("/a/.../b", "c")]).is_err());
        assert!(Router::new([("/a/:", "c")]).is_err());
    }
}
