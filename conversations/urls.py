"""Chat page URLs."""

from django.urls import path

from . import (
    attachment_views,
    export_views,
    organise_views,
    search_views,
    settings_views,
    share_views,
    views,
)

urlpatterns = [
    path("", views.chat, name="chat"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/rename/", views.rename, name="rename"),
    path("c/<int:pk>/delete/", views.delete, name="delete"),
    path("c/<int:pk>/m/<int:message_id>/code/", views.get_code, name="get_code"),
    path("sidebar/", views.sidebar, name="sidebar"),
    path("search/", search_views.search, name="search"),
    path("meter/", views.usage_meter, name="usage_meter"),
    path("attachments/", attachment_views.upload, name="attachment_upload"),
    path("attachments/<int:pk>/", attachment_views.attachment_file, name="attachment"),
    # The settings panel and presets (conversations/settings_views.py).
    path("c/<int:pk>/settings/", settings_views.save_settings, name="save_settings"),
    path("settings/check/", settings_views.check_settings, name="check_settings"),
    path("presets/", settings_views.save_preset, name="save_preset"),
    path("presets/<int:pk>/delete/", settings_views.delete_preset, name="delete_preset"),
]

# Shared links (conversations/share_views.py).

urlpatterns += [
    path("s/<str:token>/", share_views.shared, name="shared"),
    path(
        "s/<str:token>/attachments/<int:attachment_id>/",
        share_views.shared_attachment,
        name="shared_attachment",
    ),
    path("s/<str:token>/continue/", share_views.continue_share, name="continue_share"),
    path("c/<int:pk>/share/", share_views.share_conversation, name="share"),
    path("shares/", share_views.share_list, name="shares"),
    path("shares/<int:pk>/update/", share_views.update_share, name="update_share"),
    path("shares/<int:pk>/revoke/", share_views.revoke_share, name="revoke_share"),
]

# Export and import (conversations/export_views.py).

urlpatterns += [
    path(
        "c/<int:pk>/export.<str:extension>",
        export_views.export_conversation,
        name="export_conversation",
    ),
    path("export/", export_views.transfer, name="transfer"),
    path("export/all.<str:extension>", export_views.export_all, name="export_all"),
    path("staff/users/<int:user_id>/export.json", export_views.export_user, name="export_user"),
]

# Folders, pin, archive and bulk actions in the sidebar (conversations/organise_views.py).

urlpatterns += [
    path("folders/", organise_views.create_folder, name="create_folder"),
    path("folders/<int:pk>/rename/", organise_views.rename_folder, name="rename_folder"),
    path("folders/<int:pk>/delete/", organise_views.delete_folder, name="delete_folder"),
    path("c/<int:pk>/pin/", organise_views.pin, name="pin"),
    path("c/<int:pk>/unpin/", organise_views.unpin, name="unpin"),
    path("c/<int:pk>/archive/", organise_views.archive, name="archive"),
    path("c/<int:pk>/unarchive/", organise_views.unarchive, name="unarchive"),
    path("c/<int:pk>/folder/", organise_views.move_conversation, name="move_conversation"),
    path("conversations/bulk/", organise_views.bulk, name="bulk_conversations"),
]
