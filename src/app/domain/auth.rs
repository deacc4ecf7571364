//! Identity and authorization: who is calling, and may they do this?
//!
//! The HTTP layer decodes the Static Web Apps `x-ms-client-principal` header, builds a
//! [`Principal`] from its fields with [`Principal::signed_in`], and asks [`authorize`] with the
//! route and the user the route acts for. The original checked only "is logged in" (IDOR, §11.2 item 2);
//! here every user-scoped route must target the caller, and admin writes need role `admin`.

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
    /// anonymous one (blank user id, or no `authenticated` role), or an error when the user id
    /// is unusable.
    pub fn signed_in(
        user_id: &str,
        identity_provider: &str,
        user_details: &str,
        roles: Vec<String>,
    ) -> Result<Option<Self>, ValueError> {
        let authenticated = roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("authenticated"));
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

    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(Self::ADMIN_ROLE))
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
    /// Any authenticated caller.
    Authenticated,
    /// Only the user the route acts for (path or body user id), or an admin.
    SelfOnly,
    /// Only callers with role `admin`.
    Admin,
}

/// Every API route of the app (the original's routes plus the round endpoint).
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
    /// GET /api/chats/{chatId} (membership is checked with [`authorize_chat_member`])
    GetMessagesByChatId,
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
}

impl Route {
    pub const ALL: [Route; 16] = [
        Route::CreateUser,
        Route::GetUserById,
        Route::GetAllUsers,
        Route::GetUsersByCountryCode,
        Route::CreateChat,
        Route::GetChatsByUserId,
        Route::GetMessagesByChatId,
        Route::CreateScore,
        Route::GetLeaderboards,
        Route::CreateTask,
        Route::CompleteTask,
        Route::GetTasksByUserId,
        Route::PubSubConnection,
        Route::MapsToken,
        Route::AddressLookup,
        Route::CurrentRound,
    ];

    pub fn policy(self) -> Policy {
        match self {
            Route::GetLeaderboards | Route::CurrentRound => Policy::Public,
            Route::GetUserById
            | Route::GetAllUsers
            | Route::GetUsersByCountryCode
            | Route::GetMessagesByChatId
            | Route::PubSubConnection
            | Route::MapsToken
            | Route::AddressLookup => Policy::Authenticated,
            Route::CreateUser
            | Route::CreateChat
            | Route::GetChatsByUserId
            | Route::CompleteTask
            | Route::GetTasksByUserId => Policy::SelfOnly,
            Route::CreateScore | Route::CreateTask => Policy::Admin,
        }
    }
}

/// Decides one request. `target` is the user id the route names (path segment, or the body's
/// `userId`/`id`/`senderId`); `None` when the request names nobody, which for [`Policy::SelfOnly`]
/// means "the caller".
pub fn authorize(route: Route, caller: Option<&Principal>, target: Option<&UserId>) -> Access {
    let Some(caller) = caller else {
        return match route.policy() {
            Policy::Public => Access::Allowed,
            _ => Access::Unauthorized,
        };
    };
    match route.policy() {
        Policy::Public | Policy::Authenticated => Access::Allowed,
        Policy::SelfOnly => match target {
            Some(t) if *t != caller.user_id && !caller.is_admin() => Access::Forbidden,
            _ => Access::Allowed,
        },
        Policy::Admin if caller.is_admin() => Access::Allowed,
        Policy::Admin => Access::Forbidden,
    }
}

/// Reading a chat: the caller must be one of its participants (admins may read any chat).
pub fn authorize_chat_member<'a>(
    caller: Option<&Principal>,
    participants: impl IntoIterator<Item = &'a UserId>,
) -> Access {
    match caller {
        None => Access::Unauthorized,
        Some(c) if c.is_admin() => Access::Allowed,
        Some(c) if participants.into_iter().any(|p| *p == c.user_id) => Access::Allowed,
        Some(_) => Access::Forbidden,
    }
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
        assert!(principal("a1b2", &["authenticated", "Admin"]).is_admin());
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

    /// Every route × (anonymous, self, other user, admin acting for another user).
    #[test]
    fn route_matrix() {
        use Access::*;
        let me = principal("me", &["authenticated"]);
        let admin = principal("boss", &["authenticated", "admin"]);
        let my_id = me.user_id.clone();
        let other = UserId::parse("other").unwrap();
        for route in Route::ALL {
            let expected = match route.policy() {
                Policy::Public => [Allowed, Allowed, Allowed, Allowed],
                Policy::Authenticated => [Unauthorized, Allowed, Allowed, Allowed],
                Policy::SelfOnly => [Unauthorized, Allowed, Forbidden, Allowed],
                Policy::Admin => [Unauthorized, Forbidden, Forbidden, Allowed],
            };
            let actual = [
                authorize(route, None, Some(&my_id)),
                authorize(route, Some(&me), Some(&my_id)),
                authorize(route, Some(&me), Some(&other)),
                authorize(route, Some(&admin), Some(&other)),
            ];
            assert_eq!(actual, expected, "{route:?}");
        }
        assert_eq!(authorize(Route::CreateScore, Some(&me), None), Forbidden);
        assert_eq!(authorize(Route::CreateChat, Some(&me), None), Allowed);
        assert_eq!(Route::CreateTask.policy(), Policy::Admin);
        assert_eq!(Route::GetLeaderboards.policy(), Policy::Public);
    }

    proptest::proptest! {
        #[test]
        fn only_admins_or_the_target_pass_self_only_routes(
            caller in "[a-z]{1,4}", target in "[a-z]{1,4}", admin in proptest::bool::ANY,
        ) {
            let roles: &[&str] = if admin { &["authenticated", "admin"] } else { &["authenticated"] };
            let p = principal(&caller, roles);
            let t = UserId::parse(&target).unwrap();
            for route in Route::ALL {
                let access = authorize(route, Some(&p), Some(&t));
                let expected = match route.policy() {
                    Policy::Public | Policy::Authenticated => Access::Allowed,
                    Policy::SelfOnly if admin || caller == target => Access::Allowed,
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
        let them = UserId::parse("them").unwrap();
        let third = UserId::parse("third").unwrap();
        assert_eq!(
            authorize_chat_member(Some(&me), [&me.user_id, &them]),
            Access::Allowed
        );
        assert_eq!(
            authorize_chat_member(Some(&me), [&third, &them]),
            Access::Forbidden
        );
        assert_eq!(authorize_chat_member(None, [&them]), Access::Unauthorized);
    }
}
