//! Identity and authorization: who is calling, and may they do this?
//!
//! The HTTP layer decodes the Static Web Apps `x-ms-client-principal` header, builds a
//! [`Principal`] from its fields with [`Principal::signed_in`], and asks [`authorize`] with the
//! route and the user the route acts for. The original checked only "is logged in" (IDOR, §11.2 item 2);
//! here every user-scoped route must target the caller, and admin writes need role `admin`.
//! [`TABLE`] is the one authorization table: every HTTP function and its [`Policy`];
//! [`Policy::expected`] gives the matrix row the black-box tests check.

use super::values::{UserId, ValueError};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    pub identity_provider: String,
    /// The provider's user name (GitHub login); may be blank.
    pub user_details: String,
    pub roles: Vec<String>,
}

impl Principal {
    pub const ADMIN_ROLE: &'static str = "admin";

    /// The authenticated principal from the client principal's fields, `Ok(None)` for an
    /// anonymous one (blank user id, or no `authenticated` role — compared exactly, like every
    /// role name), or an error when the user id is unusable.
    pub fn signed_in(
        user_id: &str,
        identity_provider: &str,
        user_details: &str,
        roles: Vec<String>,
    ) -> Result<Option<Self>, ValueError> {
        let authenticated = roles.iter().any(|r| r == "authenticated");
        let user_id = match user_id.trim() {
            id if !id.is_empty() && authenticated => UserId::parse(id)?,
            _ => return Ok(None),
        };
        Ok(Some(Self {
            user_id,
            identity_provider: identity_provider.to_owned(),
            user_details: user_details.to_owned(),
            roles,
        }))
    }

    /// Role names compare exactly, as Static Web Apps compares `allowedRoles` (the SWA CLI's
    /// `isRouteRequiringUserRolesCheck` in Azure/static-web-apps-cli
    /// `src/msha/routes-engine/rules/routes.ts` matches with `Array.includes`): `Admin` is not
    /// `admin`, on every route.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == Self::ADMIN_ROLE)
    }
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// No authenticated caller: 401.
    Unauthorized,
    /// Authenticated, but acting for someone else or lacking the admin role: 403.
    Forbidden,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, including anonymous callers.
    Public,
    /// Any authenticated caller; the route acts for the caller (or reads shared data), and
    /// what the caller may see is decided by the data (chat membership, record owner).
    Authenticated,
    /// Only the user the route names (path or body user id), or an admin.
    SelfOnly,
    /// Only the user the route names; admins may not act for someone else either.
    SelfStrict,
    /// Only callers with role `admin`.
    Admin,
}

/// Every HTTP route of the app, one per HTTP function of the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// POST /api/user
    CreateUser,
    /// GET /api/user/{userId}
    GetUserById,
    /// GET /api/users
    GetAllUsers,
    /// GET /api/users/{countryCode}
    GetUsersByCountryCode,
    /// POST /api/chat
    CreateChat,
    /// GET /api/chats/user/{userId}
    GetChatsByUserId,
    /// GET /api/chats/{chatId} (non-members see an empty chat: [`can_read_chat`])
    GetMessagesByChatId,
    /// POST /api/chats/{chatId}/read
    MarkChatRead,
    /// POST /api/chats/{chatId}/typing
    SendTyping,
    /// POST /api/leaderboard
    CreateScore,
    /// GET /api/leaderboards
    GetLeaderboards,
    /// POST /api/task
    CreateTask,
    /// POST /api/tasks/{taskId}/users/{userId}/timestamp/{start}/{end}
    CompleteTask,
    /// GET /api/tasks/users/{userId}/timestamp/{start}/{end}
    GetTasksByUserId,
    /// GET /api/pubsub/connection
    PubSubConnection,
    /// GET /api/azMap/token
    MapsToken,
    /// GET /api/azMap/addressLookup/{latitude}/{longitude}
    AddressLookup,
    /// GET /api/round
    CurrentRound,
    /// GET /api/stats/{userId}
    UserStats,
    /// GET /api/countries/{code}/users
    UsersByCountry,
    /// POST /api/command/insert
    CommandInsert,
    /// GET /api/query/get?id=
    QueryGet,
    /// POST: rebuild read models (admin)
    RebuildReadModel,
    /// GET /api/health (no secrets: version, store reachability, trigger lag)
    Health,
}

/// The authorization table: every HTTP function of the manifest, its route and its policy.
/// `tests/security_authz.rs` fails when a function of `functions/` has no row here.
pub const TABLE: [(&str, Route, Policy); 24] = [
    ("CreateUser", Route::CreateUser, Policy::SelfStrict),
    ("GetUserById", Route::GetUserById, Policy::Authenticated),
    ("GetAllUsers", Route::GetAllUsers, Policy::Authenticated),
    (
        "GetAllUsersByCountryCode",
        Route::GetUsersByCountryCode,
        Policy::Authenticated,
    ),
    ("CreateChat", Route::CreateChat, Policy::SelfStrict),
    (
        "GetAllChatsByUserId",
        Route::GetChatsByUserId,
        Policy::SelfOnly,
    ),
    (
        "GetAllMessagesByChatId",
        Route::GetMessagesByChatId,
        Policy::Authenticated,
    ),
    ("MarkChatRead", Route::MarkChatRead, Policy::Authenticated),
    ("SendTyping", Route::SendTyping, Policy::Authenticated),
    ("CreateScore", Route::CreateScore, Policy::Admin),
    (
        "GetCosmosLeaderBoards",
        Route::GetLeaderboards,
        Policy::Public,
    ),
    ("CreateTask", Route::CreateTask, Policy::Admin),
    ("CompleteTask", Route::CompleteTask, Policy::SelfOnly),
    (
        "GetAllTasksByUserId",
        Route::GetTasksByUserId,
        Policy::SelfOnly,
    ),
    (
        "GetConnectionDetails",
        Route::PubSubConnection,
        Policy::Authenticated,
    ),
    ("GetToken", Route::MapsToken, Policy::Authenticated),
    ("LookupAddress", Route::AddressLookup, Policy::Authenticated),
    ("GetRound", Route::CurrentRound, Policy::Public),
    ("GetUserStats", Route::UserStats, Policy::Authenticated),
    (
        "GetUsersByCountry",
        Route::UsersByCountry,
        Policy::Authenticated,
    ),
    ("CommandInsert", Route::CommandInsert, Policy::Authenticated),
    ("QueryGet", Route::QueryGet, Policy::Authenticated),
    ("RebuildReadModel", Route::RebuildReadModel, Policy::Admin),
    ("Health", Route::Health, Policy::Public),
];

impl Route {
    /// Every route, in table order.
    pub fn all() -> impl Iterator<Item = Route> {
        TABLE.iter().map(|(_, route, _)| *route)
    }

    /// The route of an HTTP function (case-insensitive, as the host matches names).
    pub fn of_function(name: &str) -> Option<Route> {
        TABLE
            .iter()
            .find(|(function, _, _)| function.eq_ignore_ascii_case(name))
            .map(|(_, route, _)| *route)
    }

    /// The function serving this route.
    pub fn function(self) -> &'static str {
        Self::row(self).0
    }

    pub fn policy(self) -> Policy {
        Self::row(self).2
    }

    fn row(self) -> &'static (&'static str, Route, Policy) {
        TABLE
            .iter()
            .find(|(_, route, _)| *route == self)
            .expect("every Route has a row in TABLE (checked by the route_table_is_complete test)")
    }
}

/// Who calls, relative to the user a request acts for: the columns of the authorization matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerClass {
    /// No principal.
    Anonymous,
    /// A principal whose only role is `anonymous` (a user id, but not signed in).
    AnonymousRoleOnly,
    /// Signed in, acting for someone else.
    OtherUser,
    /// Signed in, acting for themself.
    Owner,
    /// Signed in with role `admin`, acting for someone else.
    Admin,
}

impl CallerClass {
    pub const ALL: [CallerClass; 5] = [
        CallerClass::Anonymous,
        CallerClass::AnonymousRoleOnly,
        CallerClass::OtherUser,
        CallerClass::Owner,
        CallerClass::Admin,
    ];
}

impl Policy {
    /// The decision for a caller of `class`: the expected row of the authorization matrix.
    pub fn expected(self, class: CallerClass) -> Access {
        use CallerClass::*;
        match (self, class) {
            (Policy::Public, _) => Access::Allowed,
            (_, Anonymous | AnonymousRoleOnly) => Access::Unauthorized,
            (Policy::Authenticated, _) => Access::Allowed,
            (Policy::SelfOnly, OtherUser) => Access::Forbidden,
            (Policy::SelfOnly, Owner | Admin) => Access::Allowed,
            (Policy::SelfStrict, Owner) => Access::Allowed,
            (Policy::SelfStrict, OtherUser | Admin) => Access::Forbidden,
            (Policy::Admin, Admin) => Access::Allowed,
            (Policy::Admin, OtherUser | Owner) => Access::Forbidden,
        }
    }
}

/// Decides one request. `target` is the user id the route names (path segment, or the body's
/// `userId`/`id`/`senderId`); `None` when the request names nobody, which for
/// [`Policy::SelfOnly`] and [`Policy::SelfStrict`] means "the caller".
pub fn authorize(route: Route, caller: Option<&Principal>, target: Option<&UserId>) -> Access {
    let Some(caller) = caller else {
        return match route.policy() {
            Policy::Public => Access::Allowed,
            _ => Access::Unauthorized,
        };
    };
    let acts_for_other = target.is_some_and(|t| *t != caller.user_id);
    match route.policy() {
        Policy::Public | Policy::Authenticated => Access::Allowed,
        Policy::SelfOnly if acts_for_other && !caller.is_admin() => Access::Forbidden,
        Policy::SelfOnly => Access::Allowed,
        Policy::SelfStrict if acts_for_other => Access::Forbidden,
        Policy::SelfStrict => Access::Allowed,
        Policy::Admin if caller.is_admin() => Access::Allowed,
        Policy::Admin => Access::Forbidden,
    }
}

/// Whether the caller may read a chat's messages: its participants and admins. Everyone else
/// is answered as if the chat were empty, so the answer does not reveal who talks to whom.
pub fn can_read_chat<'a>(
    caller: &Principal,
    participants: impl IntoIterator<Item = &'a UserId>,
) -> bool {
    caller.is_admin() || participants.into_iter().any(|p| *p == caller.user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|r| r.to_string()).collect()
    }

    fn principal(id: &str, names: &[&str]) -> Principal {
        Principal::signed_in(id, "github", "octocat", roles(names))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn builds_the_caller_from_the_principal_fields() {
        let p = principal("a1b2", &["anonymous", "authenticated"]);
        assert_eq!(p.user_id.as_str(), "a1b2");
        assert_eq!(p.identity_provider, "github");
        assert!(!p.is_admin());
        assert!(principal("a1b2", &["authenticated", "admin"]).is_admin());
    }

    #[test]
    fn role_names_compare_exactly() {
        assert!(!principal("me", &["authenticated", "Admin"]).is_admin());
        assert!(!principal("me", &["authenticated", "ADMIN"]).is_admin());
        assert!(principal("me", &["authenticated", "admin"]).is_admin());
        let shouting = Principal::signed_in("a1b2", "", "", roles(&["Authenticated"]));
        assert_eq!(shouting, Ok(None));
    }

    #[test]
    fn anonymous_principals_are_not_callers() {
        let anon = Principal::signed_in("a1b2", "", "", roles(&["anonymous"]));
        assert_eq!(anon, Ok(None));
        assert_eq!(
            Principal::signed_in(" ", "", "", roles(&["authenticated"])),
            Ok(None)
        );
        let bad = Principal::signed_in("a/b", "", "", roles(&["authenticated"]));
        assert_eq!(bad.unwrap_err().field(), "userId");
    }

    #[test]
    fn route_table_is_complete() {
        for (name, route, policy) in TABLE {
            assert_eq!(Route::of_function(name), Some(route), "{name}");
            assert_eq!(route.function(), name);
            assert_eq!(route.policy(), policy);
        }
        assert_eq!(Route::all().count(), TABLE.len());
    }

    /// `authorize` agrees with the matrix row of every route's policy.
    #[test]
    fn route_matrix() {
        let me = principal("me", &["authenticated"]);
        let you = principal("you", &["authenticated"]);
        let admin = principal("boss", &["authenticated", "admin"]);
        let my_id = me.user_id.clone();
        for route in Route::all() {
            let policy = route.policy();
            let actual = [
                (CallerClass::Anonymous, authorize(route, None, Some(&my_id))),
                (
                    CallerClass::OtherUser,
                    authorize(route, Some(&you), Some(&my_id)),
                ),
                (
                    CallerClass::Owner,
                    authorize(route, Some(&me), Some(&my_id)),
                ),
                (
                    CallerClass::Admin,
                    authorize(route, Some(&admin), Some(&my_id)),
                ),
            ];
            for (class, access) in actual {
                assert_eq!(access, policy.expected(class), "{route:?} {class:?}");
            }
        }
        assert_eq!(
            authorize(Route::CreateScore, Some(&me), None),
            Access::Forbidden
        );
        assert_eq!(
            authorize(Route::CreateChat, Some(&me), None),
            Access::Allowed
        );
    }

    proptest::proptest! {
        #[test]
        fn only_admins_or_the_target_pass_self_only_routes(
            caller in "[a-z]{1,4}", target in "[a-z]{1,4}", admin in proptest::bool::ANY,
        ) {
            let roles: &[&str] = if admin { &["authenticated", "admin"] } else { &["authenticated"] };
            let p = principal(&caller, roles);
            let t = UserId::parse(&target).unwrap();
            for route in Route::all() {
                let access = authorize(route, Some(&p), Some(&t));
                let expected = match route.policy() {
                    Policy::Public | Policy::Authenticated => Access::Allowed,
                    Policy::SelfOnly if admin || caller == target => Access::Allowed,
                    Policy::SelfStrict if caller == target => Access::Allowed,
                    Policy::Admin if admin => Access::Allowed,
                    _ => Access::Forbidden,
                };
                proptest::prop_assert_eq!(access, expected);
            }
        }
    }

    #[test]
    fn chat_membership() {
        let me = principal("me", &["authenticated"]);
        let admin = principal("boss", &["authenticated", "admin"]);
        let them = UserId::parse("them").unwrap();
        let third = UserId::parse("third").unwrap();
        assert!(can_read_chat(&me, [&me.user_id, &them]));
        assert!(!can_read_chat(&me, [&third, &them]));
        assert!(can_read_chat(&admin, [&third, &them]));
    }
}
